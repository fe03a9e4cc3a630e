"""Drives depot with Twilio's official Python helper library, unchanged.

Run by tests/compat.rs with DEPOT_URL, DEPOT_ACCOUNT_SID and DEPOT_AUTH_TOKEN set.
Every check raises on failure; the last line printed is "compat: N checks passed".
"""

import os
import sys
import time

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator
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


def upload(service_sid, collection, sid, path, visibility, name, data, content_type):
    """Uploads a version the way Twilio's docs do: requests multipart with files= and data=."""
    url = f"{URL}/v1/Services/{service_sid}/{collection}/{sid}/Versions"
    response = requests.post(
        url,
        files={"Content": (name, data, content_type)},
        data={"Path": path, "Visibility": visibility},
        auth=(SID, TOKEN),
    )
    check(response.status_code == 201, f"upload answered {response.status_code}: {response.text}")
    return response.json()


def versions(c, service):
    svc = c.serverless.v1.services(service.sid)
    asset = svc.assets.create(friendly_name="/logo.png")
    png = bytes(range(256)) * 4
    first = upload(service.sid, "Assets", asset.sid, "/logo.png", "public", "logo.png", png, "image/png")
    second = upload(service.sid, "Assets", asset.sid, "logo.png", "private", "logo.png", png, "image/png")
    check(first["sid"].startswith("ZN") and first["asset_sid"] == asset.sid, "asset version shape")
    check(second["path"] == "/logo.png", "leading slash added")
    listed = svc.assets(asset.sid).asset_versions.list()
    check([v.sid for v in listed] == [first["sid"], second["sid"]], "asset versions listed in order")
    fetched = svc.assets(asset.sid).asset_versions(first["sid"]).fetch()
    check(fetched.path == "/logo.png" and fetched.visibility == "public", "asset version fetch")
    check(fetched.date_created is not None, "asset version date parsed")

    function = svc.functions.create(friendly_name="/hello")
    code = "exports.handler = (context, event, callback) => callback(null, 'hello');\n"
    created = upload(service.sid, "Functions", function.sid, "/hello", "protected", "hello.js",
                     code.encode(), "application/javascript")
    version = svc.functions(function.sid).function_versions(created["sid"]).fetch()
    check(version.visibility == "protected" and version.function_sid == function.sid, "function version fetch")
    check(version.links["function_version_content"].endswith("/Content"), "function version links")
    listed = svc.functions(function.sid).function_versions.list()
    check([v.sid for v in listed] == [created["sid"]], "function versions list")
    content = svc.functions(function.sid).function_versions(created["sid"]).function_version_content().fetch()
    check(content.content == code, "function version content")


def hosting(c):
    """Builds and deploys through the twilio package, then fetches a protected asset signed
    with its RequestValidator."""
    service = c.serverless.v1.services.create(unique_name="compat-host", friendly_name="Host")
    svc = c.serverless.v1.services(service.sid)
    public = svc.assets.create(friendly_name="/hello.txt")
    secret = svc.assets.create(friendly_name="/admin.html")
    v1 = upload(service.sid, "Assets", public.sid, "/hello.txt", "public", "hello.txt", b"hello", "text/plain")
    v2 = upload(service.sid, "Assets", secret.sid, "/admin.html", "protected", "admin.html", b"<b>admin</b>",
                "text/html")
    build = svc.builds.create(asset_versions=[v1["sid"], v2["sid"]], runtime="node24",
                              dependencies='[{"name":"twilio","version":"^4.0.0"}]')
    check(build.status == "building" and build.runtime == "node24", "build created")
    for _ in range(600):  # up to 30 s: a loaded machine builds slowly
        status = svc.builds(build.sid).build_status().fetch().status
        if status != "building":
            break
        time.sleep(0.05)
    check(status == "completed", f"build completed, got {status}")
    env = svc.environments.create(unique_name="dev-environment", domain_suffix="dev")
    check(env.domain_suffix == "dev" and env.build_sid is None, "environment created")
    deployment = svc.environments(env.sid).deployments.create(build_sid=build.sid)
    check(deployment.build_sid == build.sid, "deployment created")
    check(svc.environments(env.sid).fetch().build_sid == build.sid, "environment points at build")
    svc.environments(env.sid).variables.create(key="GREETING", value="hi")
    check([v.key for v in svc.environments(env.sid).variables.list()] == ["GREETING"], "variables")

    port = URL.rsplit(":", 1)[1]
    host = f"{env.domain_name}:{port}"
    got = requests.get(f"{URL}/hello.txt", headers={"Host": host})
    check(got.status_code == 200 and got.content == b"hello", "public asset served")
    unsigned = requests.get(f"{URL}/admin.html", headers={"Host": host})
    check(unsigned.status_code == 403, "protected asset refused without signature")
    signature = RequestValidator(TOKEN).compute_signature(f"http://{host}/admin.html?x=1", {})
    signed = requests.get(f"{URL}/admin.html?x=1", headers={"Host": host, "X-Twilio-Signature": signature})
    check(signed.status_code == 200 and signed.content == b"<b>admin</b>", "protected asset with signature")
    svc.delete()


def accounts_and_keys(c):
    """Subaccounts and API keys through the 2010-04-01 API (COMPAT §16)."""
    c.api.base_url = URL
    accounts = c.api.v2010.accounts
    sub = accounts.create(friendly_name="compat team")
    check(sub.sid.startswith("AC") and len(sub.sid) == 34, "subaccount sid")
    check(sub.owner_account_sid == SID and sub.status == "active", "subaccount owner and status")
    check(len(sub.auth_token) == 32, "subaccount auth_token")
    check(sub.date_created is not None and sub.date_created.year >= 2024, "RFC 2822 date parsed")
    listed = [a.sid for a in accounts.list()]
    check(listed[0] == SID and sub.sid in listed, f"accounts list {listed}")
    check(accounts(sub.sid).fetch().friendly_name == "compat team", "subaccount fetch")
    renamed = accounts(sub.sid).update(friendly_name="renamed team")
    check(renamed.friendly_name == "renamed team", "subaccount update")

    sc = Client(sub.sid, sub.auth_token)
    sc.api.base_url = URL
    sc.serverless.base_url = URL
    key = sc.api.v2010.accounts(sub.sid).new_keys.create(friendly_name="compat key")
    check(key.sid.startswith("SK") and len(key.secret) == 32, "new key with its secret")
    keys = sc.api.v2010.accounts(sub.sid).keys
    check([k.sid for k in keys.list()] == [key.sid], "keys list")
    check(keys(key.sid).fetch().friendly_name == "compat key", "key fetch")
    check(keys(key.sid).update(friendly_name="ci").friendly_name == "ci", "key update")

    kc = Client(key.sid, key.secret, sub.sid)
    kc.api.base_url = URL
    kc.serverless.base_url = URL
    made = kc.serverless.v1.services.create(unique_name="by-key", friendly_name="By key")
    check(made.account_sid == sub.sid, "a key acts as its account on Serverless")
    check([s.sid for s in sc.serverless.v1.services.list()] == [made.sid], "the account sees it")
    check(all(s.sid != made.sid for s in c.serverless.v1.services.list()), "the parent does not")
    try:
        kc.api.v2010.accounts(sub.sid).fetch()
        check(False, "a key must be refused on the 2010 API")
    except TwilioRestException as e:
        check(e.status == 403 and e.code == 20403, f"key on 2010 is 403/20403, got {e.status}/{e.code}")
    check(keys(key.sid).delete() is True, "key delete")
    try:
        kc.serverless.v1.services(made.sid).fetch()
        check(False, "a deleted key must be refused")
    except TwilioRestException as e:
        check(e.status == 401 and e.code == 20003, f"deleted key is 401/20003, got {e.status}/{e.code}")

    suspended = accounts(sub.sid).update(status="suspended")
    check(suspended.status == "suspended", "subaccount suspended")
    try:
        sc.serverless.v1.services(made.sid).fetch()
        check(False, "a suspended account must be refused")
    except TwilioRestException as e:
        check(e.status == 401, "suspended account is 401")


def main():
    c = client()
    accounts_and_keys(c)
    service = services(c)
    seed_operations(c, service)
    paging(c, service)
    versions(c, service)
    hosting(c)
    c.serverless.v1.services(service.sid).delete()
    try:
        c.serverless.v1.services(service.sid).fetch()
        check(False, "deleted service must be gone")
    except TwilioRestException as e:
        check(e.status == 404, "deleted service is 404")
    print(f"compat: {checks} checks passed")


if __name__ == "__main__":
    main()
