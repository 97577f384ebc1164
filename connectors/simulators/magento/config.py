"""The simulator's store-configuration routes and the admin token route (a mixin)."""

from __future__ import annotations

import json
import secrets

from connectors.simulators.kit import Request, Response
from connectors.simulators.magento import seed_store
from connectors.simulators.magento.control import ControlRoutes
from connectors.simulators.magento.search import parse_criteria, run_search


class ConfigRoutes(ControlRoutes):
    """``store/*``, ``customerGroups/search``, ``attributeMetadata/customer``,
    ``directory/countries`` and ``integration/admin/token``."""

    max_page_size: int | None
    out_of_range: str
    admin_user: tuple[str, str]

    # -- configuration -------------------------------------------------------------------

    def websites(self, request: Request) -> Response:
        return Response(200, seed_store.WEBSITES)

    def store_groups(self, request: Request) -> Response:
        return Response(200, seed_store.STORE_GROUPS)

    def store_views(self, request: Request) -> Response:
        return Response(200, seed_store.store_views())

    def store_configs(self, request: Request) -> Response:
        codes = [v for k, v in request.query if k.startswith("storeCodes")]
        host = request.header("host") or "127.0.0.1"
        return Response(200, seed_store.store_configs(f"http://{host}/", codes or None))

    def customer_groups(self, request: Request) -> Response:
        criteria = parse_criteria(request.query)
        items, total = run_search(
            seed_store.CUSTOMER_GROUPS,
            criteria,
            lambda g, f: g.get(f),
            max_page_size=self.max_page_size,
            out_of_range=self.out_of_range,
        )
        return Response(
            200, {"items": items, "search_criteria": criteria.echo(), "total_count": total}
        )

    def attribute_metadata(self, request: Request) -> Response:
        return Response(200, seed_store.CUSTOMER_ATTRIBUTES)

    def countries(self, request: Request) -> Response:
        return Response(200, seed_store.countries())

    def admin_token(self, request: Request) -> Response:
        body = request.json() or {}
        if (body.get("username"), body.get("password")) != self.admin_user:
            return Response(
                401,
                {
                    "message": "The account sign-in was incorrect or your account "
                    "is disabled temporarily. Please wait and try again later."
                },
            )
        token = secrets.token_hex(24)
        with self.lock:
            self.auth.admin_tokens.add(token)
        return Response(200, json.dumps(token))  # a bare JSON string, as Magento answers
