"""Training a part of the model with the rest frozen (`optim.train_only`).

Why (issue 23): a new part that starts silent (the inverse-disc bank's zero last conv) opens slowly
while the whole model trains beside it: in a 300-step fork it carried 2.5 % of the model's change.
Training only the new part over a converged model measures what it adds that the model lacks, at
an lr the rest could not take, and costs no backward pass through frozen parts before it.
"""

from __future__ import annotations

from torch import nn

from fdikp_cli.errors import ConfigError


def freeze_all_but(model: nn.Module, prefixes: tuple[str, ...]) -> int:
    """Leave only parameters whose name starts with one of `prefixes` trainable; () leaves all as they are.

    Returns the number of trainable parameter values. A prefix that names no trainable parameter is
    an error (a typo would otherwise freeze the whole model and train nothing)."""
    if not prefixes:
        return sum(p.numel() for p in model.parameters() if p.requires_grad)
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    unmatched = [prefix for prefix in prefixes if not any(n.startswith(prefix) for n, _ in named)]
    if unmatched:
        raise ConfigError(f"optim.train_only: no trainable parameter starts with {', '.join(map(repr, unmatched))}"
                          " (is the part switched on in the model configuration?)")
    kept = 0
    for name, parameter in named:
        if name.startswith(prefixes):
            kept += parameter.numel()
        else:
            parameter.requires_grad_(False)
    return kept
