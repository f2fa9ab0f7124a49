"""``[widgets.<id>.recording_storage]``: where the engine writes recordings, S3, GCS or Azure (federated identity).

    storage = RecordingStorage(provider="gcs", uri="gs://calls/widget", service_account="rec@p.iam.gserviceaccount.com",
                               workload_identity_provider="projects/1/locations/global/workloadIdentityPools/p/providers/t")
    storage.payload()   # {"storage_provider": "gcs", "storage_uri": "gs://calls/widget", "service_account": ...}

The older ``[widgets.<id>.recording]`` table (S3 only, sent as the flat ``properties`` the engine still
accepts) keeps working; a widget sets one or the other (docs/config.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from widget_server.config_registry import choice, string

STORAGE_PROVIDERS = ("s3", "gcs", "azure")
# provider -> (the URI's form, its pattern, the identity keys it needs, and may have)
STORAGE_FORMS: dict[str, tuple[str, re.Pattern[str], tuple[str, ...], tuple[str, ...]]] = {
    "s3": ("s3://BUCKET[/PREFIX]", re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?$"),
           ("role_arn",), ("region",)),
    "gcs": ("gs://BUCKET[/PREFIX]", re.compile(r"^gs://[a-z0-9][a-z0-9._-]{1,220}[a-z0-9](/\S*)?$"),
            ("service_account", "workload_identity_provider"), ()),
    "azure": ("https://ACCOUNT.blob.core.windows.net/CONTAINER[/PREFIX]",
              re.compile(r"^https://[a-z0-9]{3,24}\.blob\.core\.windows\.net/[a-z0-9-]{3,63}(/\S*)?$"),
              ("tenant_id", "client_id"), ()),
}


@dataclass(frozen=True)
class RecordingStorage:
    provider: str = choice("", ("", *STORAGE_PROVIDERS), "where recordings go: s3, gcs or azure; empty: not used")
    uri: str = string("", "the bucket or container (and prefix) as a URI", max_len=1000)
    role_arn: str = string("", "s3: the role the engine assumes", max_len=300)
    region: str = string("", "s3: the bucket's region", max_len=50)
    service_account: str = string("", "gcs: the service account the engine impersonates", max_len=300)
    workload_identity_provider: str = string("", "gcs: the workload identity pool provider", max_len=500)
    tenant_id: str = string("", "azure: the Entra ID tenant", max_len=100)
    client_id: str = string("", "azure: the app registration with the federated credential", max_len=100)

    def payload(self) -> dict[str, str]:
        """The create body's ``recording_storage``: the provider, the URI, and that provider's identity."""
        if not self.provider:
            return {}
        _, _, needs, may = STORAGE_FORMS[self.provider]
        body = {"storage_provider": self.provider, "storage_uri": self.uri}
        body.update({key: getattr(self, key) for key in (*needs, *may) if getattr(self, key)})
        return body


def storage_problems(storage: RecordingStorage, path: str, enable_recording: bool, flat_set: bool) -> list[str]:
    """The cross-key rules of ``recording_storage``, each naming its key path, the form and the value."""
    keys = dict.fromkeys(k for f in STORAGE_FORMS.values() for k in (*f[2], *f[3]))
    given = [key for key in ("uri", *keys) if getattr(storage, key)]
    if not storage.provider:
        return [f"{path}.provider: must be one of s3, gcs, azure when {given[0]} is set"] if given else []
    form, pattern, needs, may = STORAGE_FORMS[storage.provider]
    problems = []
    if not pattern.match(storage.uri):
        problems.append(f"{path}.uri: must be {form} for provider {storage.provider}, got {storage.uri!r}")
    problems += [f"{path}.{key}: needed by provider {storage.provider}, got nothing"
                 for key in needs if not getattr(storage, key)]
    problems += [f"{path}.{key}: is not used by provider {storage.provider}; remove it"
                 for key in given if key != "uri" and key not in (*needs, *may)]
    if not enable_recording:
        problems.append(f"{path}: needs enable_recording = true, got false")
    if flat_set:
        problems.append(f"{path}: set beside the older recording table; keep one (recording_storage covers S3)")
    return problems
