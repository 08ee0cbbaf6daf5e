"""The local Xero; its well-known app credentials live here so the CLI can name them cheaply."""

SANDBOX_CLIENT_ID = "chaser-sandbox"
SANDBOX_CLIENT_SECRET = "chaser-sandbox-secret"

# What one machine holds. Contacts are built up front (about 3 KB and 0.1 ms each); invoices
# are drawn from the seed when read (1,000,000 cost about 1 s and 40 MB), so their caps are wider.
MAX_ORGS = 100  # benchmarks/morning.py runs a morning of 50
MAX_CONTACTS = 100_000  # per organisation
MAX_CONTACTS_IN_ALL = 200_000  # organisations × contacts
MAX_INVOICES = 1_000_000  # per organisation, sales invoices and bills alike
MAX_INVOICES_IN_ALL = 10_000_000  # organisations × (invoices + bills)
