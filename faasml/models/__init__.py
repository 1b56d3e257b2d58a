"""Model variants: building them (export, quantize), describing them (model cards), evaluating them."""
