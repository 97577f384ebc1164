"""The Magento 2 REST simulator and the demo store generator (seed)."""
