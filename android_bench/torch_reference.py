"""The PyTorch reference SwiftFormer: Hugging Face transformers' model, with either attention.

transformers ships the first-release "softmax" attention (the hub weights'); the
"l2" formulation swaps in the current official code's forward (Amshaker/SwiftFormer,
`EfficientAdditiveAttnetion.forward`). This module imports only torch and
transformers, so the tests, compare.py and the separate interpreter that runs
litert-torch all build the very same reference from it.
"""

ATTENTIONS = ("softmax", "l2")


def official_l2_attention(self, x):
    """The attention of the current official code, on (B, N, D) tokens."""
    import torch

    query = torch.nn.functional.normalize(self.to_query(x), dim=-1)
    key = torch.nn.functional.normalize(self.to_key(x), dim=-1)
    scores = torch.nn.functional.normalize(query @ self.w_g * self.scale_factor, dim=1)
    global_query = torch.sum(scores * query, dim=1).unsqueeze(1)
    return self.final(self.proj(global_query * key) + query)


def swiftformer(depths, widths, classes=1000, attention="softmax"):
    """A transformers `SwiftFormerForImageClassification` in eval mode, default initialised.

    Its `.logits` are `(head + dist_head) / 2`, as our `DistilledClassifier`'s.
    """
    from transformers import SwiftFormerConfig, SwiftFormerForImageClassification

    if attention not in ATTENTIONS:
        raise ValueError(f"attention must be one of {ATTENTIONS}, got {attention!r}.")
    config = SwiftFormerConfig(depths=list(depths), embed_dims=list(widths), num_labels=int(classes))
    model = SwiftFormerForImageClassification(config).eval()
    if attention == "l2":
        for module in model.modules():
            if type(module).__name__ == "SwiftFormerEfficientAdditiveAttention":
                module.forward = official_l2_attention.__get__(module)
    return model
