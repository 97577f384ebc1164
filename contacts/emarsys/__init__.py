"""The Emarsys contact sync profile type (``emarsys_contact_sync``): Magento customers and
newsletter subscribers → Emarsys contacts, and opt-in changes back to Magento."""
