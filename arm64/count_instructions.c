/*
 * A QEMU TCG plugin that counts the guest instructions a program executes and writes the running
 * count each time the program marks a point, so that the instructions between two marks are exact.
 *
 *     qemu-aarch64 -plugin count_instructions.so,marks=FILE ... python3.11 ...
 *
 * A mark is the syscall getpriority(PRIO_PROCESS, MARK_BASE + label) (aarch64 number 141, harmless:
 * no such process): swiftformer_keras/lite/runtime_worker.py makes one before and one after each
 * invoke. Each mark appends the line "<label> <instructions so far>" to FILE. The mark with label
 * DUMP_LABEL also appends, for every translated block that ran since the previous dump, the line
 * "b <guest address> <instructions it executed>", and starts those counts again: where the
 * instructions went, which the parent names by the symbols of the libraries mapped there.
 *
 * Built against the documented plugin API of QEMU 7.2 (QEMU_PLUGIN_VERSION 1, Debian 12's dynamic
 * qemu-aarch64), declared below: no Debian package ships qemu-plugin.h. The count is exact for a
 * guest of one thread (the inline add is not atomic): count at --threads 1.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
#define GETPRIORITY_AARCH64 141
#define MARK_BASE 0x7E5F0000ULL
#define DUMP_LABEL 2

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_syscall_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num,
                                              uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5,
                                              uint64_t a6, uint64_t a7, uint64_t a8);
void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_syscall_cb_t cb);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

/* One per translation of a block: where it starts and the instructions it has executed. */
struct block {
    uint64_t vaddr;
    uint64_t executed;
};

static uint64_t executed;
static FILE *marks;
static struct block **blocks;
static size_t n_blocks, capacity;

/* Each translated block adds its instruction count, every time it runs, to the total and to its own. */
static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    uint64_t n = qemu_plugin_tb_n_insns(tb);
    struct block *block = calloc(1, sizeof *block);
    if (n_blocks == capacity) {
        capacity = capacity ? 2 * capacity : 4096;
        blocks = realloc(blocks, capacity * sizeof *blocks);
    }
    if (block == NULL || blocks == NULL) {
        abort();
    }
    block->vaddr = qemu_plugin_tb_vaddr(tb);
    blocks[n_blocks++] = block;
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed, n);
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &block->executed, n);
}

static void dump_blocks(void) {
    for (size_t i = 0; i < n_blocks; i++) {
        if (blocks[i]->executed) {
            fprintf(marks, "b %" PRIu64 " %" PRIu64 "\n", blocks[i]->vaddr, blocks[i]->executed);
            blocks[i]->executed = 0;
        }
    }
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
    if (num == GETPRIORITY_AARCH64 && (a2 & ~0xffULL) == MARK_BASE) {
        fprintf(marks, "%" PRIu64 " %" PRIu64 "\n", a2 & 0xff, executed);
        if ((a2 & 0xff) == DUMP_LABEL) {
            dump_blocks();
        }
        fflush(marks);
    }
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv) {
    marks = stderr;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "marks=", 6) == 0 && (marks = fopen(argv[i] + 6, "w")) == NULL) {
            fprintf(stderr, "count_instructions: cannot write %s\n", argv[i] + 6);
            return -1;
        }
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    return 0;
}
