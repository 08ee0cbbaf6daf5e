"""Fakes at the network boundary: real local servers that speak Slack's protocols."""
