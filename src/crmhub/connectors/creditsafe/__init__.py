"""Creditsafe Connect: company credit assessments in, monitoring portfolio entries out."""

from crmhub.connectors.creditsafe.config import CreditsafeConfig
from crmhub.connectors.creditsafe.connector import CreditsafeConnector

__all__ = ["CreditsafeConfig", "CreditsafeConnector"]
