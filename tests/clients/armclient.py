"""A small ARM backup/restore client (Python 3 stdlib only) that follows ARM's LRO contract.

The reference client (reference.py) runs it as is; each broken client in this directory runs it with
one bug switched on, so the harness's verdict on that client names exactly that bug.

Env contract (set by `armsim run --client`): ARMSIM_ENDPOINT, ARMSIM_TOKEN, ARMSIM_SUBSCRIPTION_ID,
ARMSIM_RESOURCE_GROUP, ARMSIM_SERVICE_NAME, ARMSIM_OPERATION (backup|restore), ARMSIM_STORAGE_ACCOUNT,
ARMSIM_STORAGE_KEY, ARMSIM_CONTAINER, ARMSIM_BACKUP_NAME, and ARMSIM_TIME_LIMIT (seconds the harness
allows; the client gives up at half of it). With AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and
AZURE_AUTHORITY_HOST it logs in (client credentials) and gets a new token before the old one expires;
otherwise it uses ARMSIM_TOKEN. TLS trust comes from SSL_CERT_FILE.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

API_VERSION = "2024-05-01"
TRANSIENT = {408, 429, 500, 502, 503, 504}
# No Retry-After: ARM says 60 s; a rehearsal client polls every second (ability: custom-poll-interval).
DEFAULT_INTERVAL = float(os.environ.get("ARMSIM_POLL_INTERVAL", "1"))


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers.items()}
        self.body = body

    def json(self):
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def retry_after(self):
        value = self.headers.get("retry-after")
        try:
            return max(0.0, float(value)) if value is not None else None
        except ValueError:
            return None


class BrokenAnswer(Exception):
    """The connection dropped or the body was cut: a transient failure."""


class Client:
    def __init__(self, bug=None):
        self.bug = bug
        self.endpoint = os.environ["ARMSIM_ENDPOINT"].rstrip("/")
        self.token = os.environ.get("ARMSIM_TOKEN", "")
        self.token_expires = float("inf")
        self.login = None
        if bug != "caches-token" and os.environ.get("AZURE_CLIENT_SECRET"):
            self.login = (
                os.environ["AZURE_AUTHORITY_HOST"].rstrip("/"),
                os.environ["AZURE_TENANT_ID"],
                os.environ["AZURE_CLIENT_ID"],
                os.environ["AZURE_CLIENT_SECRET"],
            )
            self.token_expires = 0.0
        limit = float(os.environ.get("ARMSIM_TIME_LIMIT", "60"))
        self.deadline = time.monotonic() + limit / 2
        if bug == "polls-forever":
            self.deadline = float("inf")

    def url(self, url):
        if url.startswith("/"):
            return self.endpoint + url
        return url

    def bearer(self):
        """The current token, renewed when less than a tenth of its life (at least 1 s) remains."""
        if self.login and time.monotonic() >= self.token_expires:
            authority, tenant, client_id, secret = self.login
            form = urllib.parse.urlencode({
                "grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
                "scope": "https://management.azure.com/.default",
            }).encode()
            req = urllib.request.Request("%s/%s/oauth2/v2.0/token" % (authority, tenant), data=form, method="POST")
            with urllib.request.urlopen(req, timeout=30) as resp:
                answer = json.loads(resp.read())
            life = float(answer.get("expires_in", 60))
            self.token = answer["access_token"]
            self.token_expires = time.monotonic() + max(0.0, life - max(1.0, life / 10))
        return self.token

    def send(self, method, url, body=None):
        data = None
        headers = {
            "Authorization": "Bearer " + self.bearer(),
            "Accept": "application/json",
            "x-ms-client-request-id": str(uuid.uuid4()),
        }
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.url(url), data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return Answer(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as e:
            try:
                payload = e.read()
            except Exception as cut:  # a cut body on an error answer
                raise BrokenAnswer(str(cut))
            return Answer(e.code, dict(e.headers), payload)
        except (urllib.error.URLError, ConnectionError, OSError, ValueError) as e:
            raise BrokenAnswer(str(e))
        except Exception as e:  # http.client.IncompleteRead, RemoteDisconnected, ...
            raise BrokenAnswer(str(e))

    def sleep(self, seconds):
        if self.bug == "ignores-retry-after":
            seconds = 0.05
        time.sleep(seconds)

    def request(self, method, url, body=None, attempts=8):
        """One request with retries of 429/5xx, broken answers and any 4xx that carries Retry-After
        (a poll's 404 right after the 202 means "not yet"; azure-core's Python RetryPolicy does the
        same), honouring Retry-After."""
        last = None
        for _ in range(attempts):
            if time.monotonic() > self.deadline:
                break
            try:
                answer = self.send(method, url, body)
            except BrokenAnswer as e:
                last = "broken answer: %s" % e
                self.sleep(1)
                continue
            if answer.status == 429 and self.bug == "gives-up-on-429":
                fail(answer)
            if answer.status in TRANSIENT:
                last = answer
                self.sleep(answer.retry_after() or 1)
                continue
            if 400 <= answer.status < 500 and answer.retry_after() is not None:
                if self.bug == "gives-up-on-404":
                    return answer  # takes "not yet" for the end
                last = answer
                self.sleep(answer.retry_after() or 1)
                continue
            if answer.status == 400 and self.bug == "retries-400" and method == "POST":
                last = answer
                time.sleep(0.2)
                continue
            return answer
        if isinstance(last, Answer):
            fail(last)
        die("GaveUp", "no usable answer: %s" % last)

    def run(self):
        sub = os.environ["ARMSIM_SUBSCRIPTION_ID"]
        rg = os.environ["ARMSIM_RESOURCE_GROUP"]
        svc = os.environ["ARMSIM_SERVICE_NAME"]
        op = os.environ["ARMSIM_OPERATION"]
        action = "/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ApiManagement/service/%s/%s?api-version=%s" % (
            sub, rg, svc, op, API_VERSION)
        body = {
            "storageAccount": os.environ["ARMSIM_STORAGE_ACCOUNT"],
            "containerName": os.environ["ARMSIM_CONTAINER"],
            "backupName": os.environ["ARMSIM_BACKUP_NAME"],
            "accessType": "AccessKey",
            "accessKey": os.environ["ARMSIM_STORAGE_KEY"],
        }
        accepted = self.request("POST", action, body)
        if accepted.status in (200, 201, 204):
            succeed(accepted)
        if accepted.status != 202:
            fail(accepted)
        aao = accepted.headers.get("azure-asyncoperation")
        location = accepted.headers.get("location")
        if self.bug == "wrong-header":
            aao = None
        if self.bug == "polls-post-url":
            location, aao = action, None
        if aao is None and location is None:
            succeed(accepted)  # no monitor header: nothing to wait for
        wait = accepted.retry_after() or DEFAULT_INTERVAL
        polls = 0
        while True:
            if time.monotonic() > self.deadline:
                die("OperationTimedOut", "the operation did not finish within the time allowed; giving up")
            self.sleep(wait)
            polls += 1
            url = aao or location
            if self.bug == "loses-api-version":
                url = url.split("?")[0]
            answer = self.request("GET", url)
            wait = answer.retry_after() or DEFAULT_INTERVAL
            if self.bug == "stops-polling-early" and polls == 1:
                succeed(answer)
            if aao is not None:
                doc = answer.json()
                if answer.status >= 400:
                    self.finish(fail, answer)
                    continue
                if doc is None or "status" not in doc:
                    continue  # not a status document: ask again
                status = str(doc["status"]).lower()
                if status == "succeeded":
                    if location is not None:
                        final = self.request("GET", location)
                        self.finish(succeed if final.status < 300 else fail, final)
                        continue
                    self.finish(succeed, answer)
                    continue
                if status in ("failed", "canceled", "cancelled"):
                    self.finish(fail, answer, doc)
                    continue
                continue
            if answer.status == 202:
                location = answer.headers.get("location") or location
                continue
            if 200 <= answer.status < 300:
                if answer.body and answer.json() is None:
                    continue  # a result that is not JSON: read it again
                self.finish(succeed, answer)
                continue
            self.finish(fail, answer)

    def finish(self, how, answer, doc=None):
        if self.bug == "failed-as-success":
            succeed(answer)
        if self.bug == "polls-forever":
            return
        if doc is not None:
            fail_doc(doc)
        how(answer)


def succeed(answer):
    print("Succeeded (%d)" % answer.status)
    sys.exit(0)


def fail(answer):
    doc = answer.json() or {}
    err = doc.get("error") or {}
    die(err.get("code", "HttpError%d" % answer.status), err.get("message", answer.body[:200]))


def fail_doc(doc):
    err = doc.get("error") or {}
    die(err.get("code", "OperationFailed"), err.get("message", "the operation failed"))


def die(code, message):
    print("ERROR: %s: %s" % (code, message), file=sys.stderr)
    sys.exit(1)


def main(bug=None):
    Client(bug).run()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
