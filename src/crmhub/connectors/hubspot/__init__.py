"""HubSpot CRM v3 connector: contacts and companies, incremental reads and batch write-back."""

from crmhub.connectors.hubspot.config import HubSpotConfig
from crmhub.connectors.hubspot.connector import HubSpotConnector

__all__ = ["HubSpotConfig", "HubSpotConnector"]
