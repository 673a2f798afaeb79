"""Constants of the autodiff engine."""

IDENTITY_GRADIENT_DATA = ""
"""The data of the gradient a backward pass starts from when none is given: empty feedback."""

BACKWARD_PASS_MAX_RETRIES = 3
"""How many times a language-model backward step retries a reply it cannot parse."""
