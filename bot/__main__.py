"""`python -m bot` runs the chaser CLI."""

from bot.cli import main

main()
