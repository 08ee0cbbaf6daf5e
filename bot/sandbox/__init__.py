"""The local Xero; its well-known app credentials live here so the CLI can name them cheaply."""

SANDBOX_CLIENT_ID = "chaser-sandbox"
SANDBOX_CLIENT_SECRET = "chaser-sandbox-secret"
