"""twilio-python, unmodified, through `depot serve --intercept-twilio`: no base_url, only
HTTPS_PROXY and REQUESTS_CA_BUNDLE (and TWILIO_EDGE/TWILIO_REGION when set) in the environment.

Run by tests/intercept.rs with DEPOT_ACCOUNT_SID, DEPOT_AUTH_TOKEN and EXPECT_HOST (the Twilio
host the library is expected to address). Every check exits non-zero on failure; the last line
is "intercept-python: N checks passed".
"""

import os
import socket
import sys

from twilio.rest import Client

SID = os.environ["DEPOT_ACCOUNT_SID"]
TOKEN = os.environ["DEPOT_AUTH_TOKEN"]
HOST = os.environ["EXPECT_HOST"]
PREFIX = os.environ.get("NAME_PREFIX", "py")
checks = 0


def check(condition, what):
    global checks
    if not condition:
        print(f"intercept-python: FAILED: {what}", file=sys.stderr)
        sys.exit(1)
    checks += 1


# The guard is live: a connection off the machine fails (and is logged, which the test expects).
try:
    socket.create_connection(("192.0.2.1", 443), timeout=2)
    check(False, "the guard let a connection to 192.0.2.1 through")
except ConnectionRefusedError as err:
    check("intercept guard" in str(err), f"guard refused: {err}")

client = Client(SID, TOKEN)
check(client.serverless.base_url == "https://serverless.twilio.com", "base_url untouched")

base = f"https://{HOST}/v1/Services"
names = [f"{PREFIX}-svc-{i}" for i in range(5)]
created = [
    client.serverless.v1.services.create(unique_name=n, friendly_name=n.upper()) for n in names
]
for service in created:
    check(service.sid.startswith("ZS"), "service sid")
    check(service.url == f"{base}/{service.sid}", f"service url {service.url}")
    check(service.links["assets"] == f"{base}/{service.sid}/Assets", "links.assets")

page = client.serverless.v1.services.page(page_size=2)
check(page.next_page_url is not None, "a next page")
check(page.next_page_url.startswith(f"{base}?"), f"next_page_url {page.next_page_url}")
# list() follows next_page_url through the tunnel: three pages of two.
listed = client.serverless.v1.services.list(page_size=2)
check({s.unique_name for s in listed} >= set(names), "every service listed across pages")

fetched = client.serverless.v1.services(created[0].sid).fetch()
check(fetched.unique_name == names[0] and fetched.friendly_name == names[0].upper(), "fetch")

service = client.serverless.v1.services(created[0].sid)
assets = [service.assets.create(friendly_name=f"asset-{i}") for i in range(3)]
for asset in assets:
    check(asset.sid.startswith("ZH"), "asset sid")
    check(asset.url == f"{base}/{created[0].sid}/Assets/{asset.sid}", f"asset url {asset.url}")
listed = service.assets.list(page_size=2)
check(sorted(a.sid for a in listed) == sorted(a.sid for a in assets), "assets across pages")
check(service.assets(assets[1].sid).fetch().friendly_name == "asset-1", "asset fetch")

# `twilio login` checks credentials on api.twilio.com.
account = client.api.v2010.accounts(SID).fetch()
check(account.sid == SID and account.status == "active", "2010 account fetch")

for s in created:
    check(client.serverless.v1.services(s.sid).delete(), "delete")

print(f"intercept-python: {checks} checks passed")
