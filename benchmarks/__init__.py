"""Per-request cost of authenticating a DRF request: simplejwt versus SessionJWTAuthentication.

Run ``python -m benchmarks`` from the repository root (``--help`` for the options); see
``benchmarks/README.md`` for what each row means.
"""
