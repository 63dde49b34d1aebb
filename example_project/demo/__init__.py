"""Demo account page: sign-in, silent refresh, devices. Plain JS, no build step."""
