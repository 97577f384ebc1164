"""Model factories shared by the test suite."""

from __future__ import annotations

import factory

from contacts.models import ContactEntity
from profiles.models import Client, ClientType, Profile


class ClientFactory(factory.django.DjangoModelFactory[Client]):
    class Meta:
        model = Client

    name = factory.Sequence(lambda n: f"client-{n}")
    type = ClientType.MAGENTO
    base_url = "http://127.0.0.1:8801"
    credentials = factory.LazyFunction(lambda: {"consumer_key": "ck", "consumer_secret": "cs"})


class ProfileFactory(factory.django.DjangoModelFactory[Profile]):
    class Meta:
        model = Profile

    name = factory.Sequence(lambda n: f"profile-{n}")
    type = "test_trace"
    process_batch_size = 10


class ContactEntityFactory(factory.django.DjangoModelFactory[ContactEntity]):
    class Meta:
        model = ContactEntity

    profile = factory.SubFactory(ProfileFactory)
    person_key = factory.Sequence(lambda n: f"customer:{n}")
    customer_id = factory.Sequence(lambda n: n)
    email = factory.Sequence(lambda n: f"person{n}@example.com")
