"""Drives depot with Twilio's official Python helper library, unchanged.

Run by tests/compat.rs with DEPOT_URL, DEPOT_ACCOUNT_SID and DEPOT_AUTH_TOKEN set.
Every check raises on failure; the last line printed is "compat: N checks passed".
"""

import os
import sys

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

URL = os.environ["DEPOT_URL"]
SID = os.environ["DEPOT_ACCOUNT_SID"]
TOKEN = os.environ["DEPOT_AUTH_TOKEN"]

checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"compat: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


def client():
    c = Client(SID, TOKEN)
    c.serverless.base_url = URL
    return c


def services(c):
    service = c.serverless.v1.services.create(unique_name="compat-app", friendly_name="Compat App")
    check(service.sid.startswith("ZS") and len(service.sid) == 34, "service sid")
    check(service.unique_name == "compat-app", "unique_name")
    check(service.include_credentials is True and service.ui_editable is False, "booleans")
    check(service.date_created is not None and service.date_created.year >= 2024, "date parsed")
    fetched = c.serverless.v1.services("compat-app").fetch()
    check(fetched.sid == service.sid, "fetch by unique name")
    updated = c.serverless.v1.services(service.sid).update(friendly_name="Renamed")
    check(updated.friendly_name == "Renamed", "service update")
    try:
        c.serverless.v1.services.create(unique_name="compat-app", friendly_name="again")
        check(False, "duplicate service must fail")
    except TwilioRestException as e:
        check(e.status == 409 and e.code == 20409, f"duplicate is 409/20409, got {e.status}/{e.code}")
    return service


def seed_operations(c, service):
    assets = c.serverless.v1.services(service.sid).assets
    asset = assets.create(friendly_name="FriendlyName")
    check(asset.sid.startswith("ZH"), "asset sid")
    check(asset.service_sid == service.sid, "asset service_sid")
    check(asset.account_sid == SID, "asset account_sid")
    check(asset.links["asset_versions"].endswith(f"/Assets/{asset.sid}/Versions"), "asset links")
    fetched = c.serverless.v1.services(service.sid).assets(asset.sid).fetch()
    check(fetched.friendly_name == "FriendlyName", "asset fetch")
    listed = assets.list(limit=20)
    check([a.sid for a in listed] == [asset.sid], "asset list")
    updated = c.serverless.v1.services(service.sid).assets(asset.sid).update(friendly_name="Renamed")
    check(updated.friendly_name == "Renamed", "asset update")
    check(c.serverless.v1.services(service.sid).assets(asset.sid).delete() is True, "asset delete")
    try:
        c.serverless.v1.services(service.sid).assets(asset.sid).fetch()
        check(False, "deleted asset must be gone")
    except TwilioRestException as e:
        check(e.status == 404 and e.code == 20404, "deleted asset is 404/20404")


def paging(c, service):
    assets = c.serverless.v1.services(service.sid).assets
    created = [assets.create(friendly_name=f"asset-{i:03}").sid for i in range(120)]
    for page_size in (7, 50, 1000):
        listed = [a.sid for a in assets.list(page_size=page_size)]
        check(listed == created, f"list(page_size={page_size}) returns all 120 in order")
        streamed = [a.sid for a in assets.stream(page_size=page_size)]
        check(streamed == created, f"stream(page_size={page_size}) returns all 120 in order")
    limited = [a.sid for a in assets.list(limit=45, page_size=10)]
    check(limited == created[:45], "list(limit=45)")
    everything = [a.sid for a in assets.list(limit=2000)]
    check(everything == created, "list(limit=2000) sends PageSize above 1000")
    check(len(set(everything)) == 120, "no duplicates")
    page = assets.page(page_size=50)
    check(len(list(page)) == 50, "first page")
    page = page.next_page()
    check(len(list(page)) == 50, "second page")
    page = page.next_page()
    check(len(list(page)) == 20, "third page")
    check(page.next_page() is None, "no fourth page")


def main():
    c = client()
    service = services(c)
    seed_operations(c, service)
    paging(c, service)
    extra = os.environ.get("DEPOT_COMPAT_EXTRA")
    if extra:
        import importlib
        importlib.import_module(extra).run(c, service, check)
    c.serverless.v1.services(service.sid).delete()
    try:
        c.serverless.v1.services(service.sid).fetch()
        check(False, "deleted service must be gone")
    except TwilioRestException as e:
        check(e.status == 404, "deleted service is 404")
    print(f"compat: {checks} checks passed")


if __name__ == "__main__":
    main()
