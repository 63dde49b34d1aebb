"""Device sessions, rotating refresh tokens and instant revocation for simplejwt."""

__version__ = "0.1.0.dev0"
