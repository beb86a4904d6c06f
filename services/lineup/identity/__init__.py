"""Agencies, API keys, roles and grants: who may call Lineup and on whose data."""
