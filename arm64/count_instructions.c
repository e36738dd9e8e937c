/*
 * A QEMU TCG plugin that counts the guest instructions a program executes and writes the running
 * count each time the program marks a point, so that the instructions between two marks are exact.
 *
 *     qemu-aarch64 -plugin count_instructions.so,marks=FILE ... python3.11 ...
 *
 * A mark is the syscall getpriority(PRIO_PROCESS, MARK_BASE + label) (aarch64 number 141, harmless:
 * no such process): swiftformer_keras/lite/runtime_worker.py makes one before and one after each
 * invoke. Each mark appends the line "<label> <instructions so far>" to FILE.
 *
 * Built against the documented plugin API of QEMU 7.2 (QEMU_PLUGIN_VERSION 1, Debian 12's dynamic
 * qemu-aarch64), declared below: no Debian package ships qemu-plugin.h. The count is exact for a
 * guest of one thread (the inline add is not atomic): count at --threads 1.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
#define GETPRIORITY_AARCH64 141
#define MARK_BASE 0x7E5F0000ULL

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
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op, void *ptr,
                                              uint64_t imm);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_syscall_cb_t cb);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

static uint64_t executed;
static FILE *marks;

/* Each translated block adds its instruction count every time it runs. */
static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &executed, qemu_plugin_tb_n_insns(tb));
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8) {
    if (num == GETPRIORITY_AARCH64 && (a2 & ~0xffULL) == MARK_BASE) {
        fprintf(marks, "%" PRIu64 " %" PRIu64 "\n", a2 & 0xff, executed);
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
