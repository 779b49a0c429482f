"""Write a Thunderbird profile from prefs: one IMAP account on loopback, Local Folders, an NSS database.

Theory of operation
-------------------
Thunderbird reads ``user.js`` at startup and copies it over ``prefs.js``, so a profile is a directory with
a ``user.js`` (design/operations.md §9). The account is the classic pref graph:
``mail.accountmanager.accounts`` lists ``accountN``; ``mail.account.accountN.server`` names
``serverN``; ``mail.server.serverN.*`` holds host, port, ``socketType`` (0 plain, 2 STARTTLS, 3 TLS) and
``authMethod`` (3 = normal password); ``mail.identity.idN.*`` is the sender. A ``type=none`` server is
Local Folders. Subscriptions are left at Thunderbird's default (``using_subscription=true``) on purpose:
the test must prove that a Maildir without a ``subscriptions`` file shows every folder.

Passwords have no pref: they live in ``logins.json`` encrypted with ``key4.db``. ``create_nss_db`` makes
an empty-password ``key4.db`` with ``certutil`` so Thunderbird never asks for a primary password, and
``trust_ca`` imports a CA certificate as trusted for TLS servers (``-t C,,``). The login itself is stored
over Marionette (``STORE_LOGIN_JS``).

Network noise (updates, telemetry, add-on and provider lookups, first-run pages) is switched off; the only
socket Thunderbird should open is the IMAP one to 127.0.0.1 and Marionette's listener.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

SOCKET_PLAIN = 0
SOCKET_STARTTLS = 2
SOCKET_TLS = 3
AUTH_PASSWORD_CLEARTEXT = 3
IMAP_SERVER_KEY = "server1"
LOCAL_SERVER_KEY = "server2"
# Seconds certutil may take (it only touches files in the profile).
CERTUTIL_TIMEOUT = 30.0

PrefValue = bool | int | str

# Prefs that keep a test run quiet and offline: no first-run UI, no updates, no telemetry, no lookups.
QUIET_PREFS: Mapping[str, PrefValue] = {
    "marionette.port": 0,  # pick a free port; Marionette writes it to <profile>/MarionetteActivePort
    "app.update.auto": False,
    "app.update.disabledForTesting": True,
    "app.update.checkInstallTime": False,
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.healthreport.uploadEnabled": False,
    "datareporting.policy.dataSubmissionEnabled": False,
    "datareporting.policy.dataSubmissionPolicyBypassNotification": True,
    "toolkit.telemetry.enabled": False,
    "toolkit.telemetry.server": "",
    "toolkit.startup.max_resumed_crashes": -1,
    "browser.crashReports.unsubmittedCheck.autoSubmit2": False,
    "extensions.update.enabled": False,
    "extensions.getAddons.cache.enabled": False,
    "extensions.autoDisableScopes": 0,
    "extensions.enabledScopes": 5,
    "services.settings.server": "http://127.0.0.1:1/remote-settings",
    "network.connectivity-service.enabled": False,
    "network.captive-portal-service.enabled": False,
    "network.dns.disablePrefetch": True,
    "network.predictor.enabled": False,
    "mail.shell.checkDefaultClient": False,
    "mail.provider.enabled": False,
    "mail.provider.suppress_dialog_on_startup": True,
    "mail.rights.version": 1,
    "mail.winsearch.firstRunDone": True,
    "mailnews.start_page.enabled": False,
    "mailnews.start_page_override.mstone": "ignore",
    "mail.spotlight.firstRunDone": True,
    "mail.startup.enabledMailCheckOnce": True,
    "mail.biff.play_sound": False,
    "mail.biff.show_alert": False,
    "mail.biff.show_tray_icon": False,
    "mail.cloud_files.enabled": False,
    "mailnews.auto_config_url": "",
    "mailnews.mx_service_url": "",
    "mail.instrumentation.postUrl": "",
    "mail.inline_attachments": False,
    "calendar.timezone.useSystemTimezone": True,
    "calendar.integration.notify": False,
    "browser.safebrowsing.malware.enabled": False,
    "browser.safebrowsing.phishing.enabled": False,
    "mail.phishing.detection.enabled": False,
    "mail.server.default.check_all_folders_for_new": False,
}


@dataclass(frozen=True, slots=True)
class ImapAccount:
    """The one IMAP account the profile holds."""

    host: str
    port: int
    user: str
    socket_type: int = SOCKET_PLAIN
    email: str = "alice@example.org"
    full_name: str = "Alice Tester"


def pref_line(name: str, value: PrefValue) -> str:
    """``user_pref("name", value);`` with JSON quoting (what Thunderbird's pref parser accepts)."""
    return f"user_pref({json.dumps(name)}, {json.dumps(value)});"


def account_prefs(account: ImapAccount) -> dict[str, PrefValue]:
    """The pref graph for one IMAP account plus Local Folders (design/operations.md §9)."""
    server = f"mail.server.{IMAP_SERVER_KEY}"
    local = f"mail.server.{LOCAL_SERVER_KEY}"
    return {
        "mail.accountmanager.accounts": "account1,account2",
        "mail.accountmanager.defaultaccount": "account1",
        "mail.accountmanager.localfoldersserver": LOCAL_SERVER_KEY,
        "mail.account.account1.server": IMAP_SERVER_KEY,
        "mail.account.account1.identities": "id1",
        "mail.account.account2.server": LOCAL_SERVER_KEY,
        "mail.identity.id1.fullName": account.full_name,
        "mail.identity.id1.useremail": account.email,
        "mail.identity.id1.valid": True,
        f"{server}.type": "imap",
        f"{server}.hostname": account.host,
        f"{server}.port": account.port,
        f"{server}.socketType": account.socket_type,
        f"{server}.authMethod": AUTH_PASSWORD_CLEARTEXT,
        f"{server}.userName": account.user,
        f"{server}.name": "maildird",
        # The test drives every connection itself: no startup login, no biff timer racing it.
        f"{server}.login_at_startup": False,
        f"{server}.check_new_mail": False,
        f"{server}.directory-rel": f"[ProfD]ImapMail/{account.host}",
        f"{local}.type": "none",
        f"{local}.hostname": "Local Folders",
        f"{local}.userName": "nobody",
        f"{local}.name": "Local Folders",
        f"{local}.directory-rel": "[ProfD]Mail/Local Folders",
    }


def write_profile(profile: Path, account: ImapAccount, extra: Mapping[str, PrefValue] | None = None) -> Path:
    """Create ``profile`` with a ``user.js`` for ``account``; return the user.js path."""
    profile.mkdir(parents=True, exist_ok=True)
    prefs: dict[str, PrefValue] = {**QUIET_PREFS, **account_prefs(account), **(extra or {})}
    user_js = profile / "user.js"
    user_js.write_text("".join(pref_line(name, value) + "\n" for name, value in prefs.items()))
    return user_js


def _certutil(certutil: str, *args: str) -> None:
    result = subprocess.run(
        [certutil, *args], capture_output=True, text=True, timeout=CERTUTIL_TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"certutil {' '.join(args)} exited {result.returncode}: {result.stderr}")


def create_nss_db(certutil: str, profile: Path) -> None:
    """An NSS sql database (cert9.db, key4.db) with an empty primary password."""
    profile.mkdir(parents=True, exist_ok=True)
    _certutil(certutil, "-N", "-d", f"sql:{profile}", "--empty-password")


def trust_ca(certutil: str, profile: Path, ca_pem: Path, nickname: str = "maildird test CA") -> None:
    """Import ``ca_pem`` into the profile's NSS db as a CA trusted to issue TLS server certificates."""
    _certutil(certutil, "-A", "-d", f"sql:{profile}", "-n", nickname, "-t", "C,,", "-i", str(ca_pem))


def list_certs(certutil: str, profile: Path) -> str:
    """``certutil -L`` output (for assertions that the CA is in the db)."""
    result = subprocess.run(
        [certutil, "-L", "-d", f"sql:{profile}"],
        capture_output=True,
        text=True,
        timeout=CERTUTIL_TIMEOUT,
        check=True,
    )
    return result.stdout
