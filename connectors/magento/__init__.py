"""Magento 2 connector: REST client and subscriber sources.

Its simulator and the demo store are test doubles: :mod:`connectors.simulators.magento`."""

from connectors.magento.auth import BearerAuth, OAuth1Signer, encode_query
from connectors.magento.client import KeysetPager, MagentoClient
from connectors.magento.criteria import Filter, SearchCriteria

__all__ = [
    "BearerAuth",
    "Filter",
    "KeysetPager",
    "MagentoClient",
    "OAuth1Signer",
    "SearchCriteria",
    "encode_query",
]
