"""torchvision's ImageNet ResNets from the Hugging Face Hub, as safetensors: no torch.

timm mirrors torchvision's original weights under torchvision's own parameter names
(``conv1``, ``bn1``, ``layerN.M.convK``, ``downsample.0/1``, ``fc``):

  hf-hub:timm/resnet50.tv_in1k      torchvision's resnet50-19c8e357.pth, re-saved
  hf-hub:timm/resnet18.tv_in1k      (likewise resnet34, resnet101, resnet152)

A spec is ``hf-hub:<owner>/<name>[@<revision>]``; the file read is ``model.safetensors``.
`fetch` downloads it with huggingface_hub into the Hugging Face cache (``HF_HOME`` /
``HF_HUB_CACHE``; ``HF_ENDPOINT`` names another Hub) and checks its SHA-256 against the
one the Hub reports for the file: the ETag of an LFS file is the SHA-256 of its content
(`huggingface_hub.get_hf_file_metadata`). With ``HF_HUB_OFFLINE=1`` nothing is asked of
the network: the file comes from the cache, checked against the ETag the cache recorded
when it was downloaded (the cache names each blob by it). A Hub that cannot be reached
stops in one line: the file's URL, and how to give the weights by hand or run offline.
"""
import dataclasses
import hashlib
import os
import re
from typing import Optional

from adafilter_jax import models

SCHEME = 'hf-hub:'
FILENAME = 'model.safetensors'
# timm's mirrors of torchvision's original ImageNet weights (IMAGENET1K_V1).
TORCHVISION = tuple(f'timm/{arch}.tv_in1k'
                    for arch in ('resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152'))
_REPO_ID = re.compile(r'^[\w.-]+/[\w.-]+$')
_SHA256 = re.compile(r'^[0-9a-f]{64}$')


@dataclasses.dataclass(frozen=True)
class Fetched:
  """A checked local copy of a Hub file."""
  repo_id: str
  revision: Optional[str]
  commit: str     # the Hub commit the file is from
  path: str       # in the Hugging Face cache
  sha256: str     # checked against the Hub's


def is_hub(spec: str) -> bool:
  return isinstance(spec, str) and spec.startswith(SCHEME)


def parse(spec: str):
  """(repo_id, revision or None) of ``hf-hub:<owner>/<name>[@<revision>]``."""
  repo_id, _, revision = spec[len(SCHEME):].partition('@')
  if not _REPO_ID.match(repo_id):
    raise ValueError(f'{spec!r}: not a Hub repo id; expected hf-hub:<owner>/<name>[@<revision>], '
                     f'e.g. hf-hub:{TORCHVISION[2]}')
  return repo_id, revision or None


def arch(spec: str, model_arch: Optional[str] = None) -> str:
  """The ResNet a spec's weights are for: the one its repo's name says (timm's
  ``<arch>.<tag>``), which must be the model's (`model_arch`, config.model.arch) when
  both are known; either one names it."""
  name = parse(spec)[0].split('/')[1].split('.')[0]
  named = name if name in models.STAGES else None
  if model_arch and named and model_arch != named:
    raise ValueError(f'{spec} holds {named} weights, but the model is {model_arch} '
                     f'(config.model.arch / --arch): use hf-hub:timm/{model_arch}.tv_in1k, '
                     f'or model.arch={named}.')
  if not (model_arch or named):
    raise ValueError(f'{spec}: no ResNet architecture in the repo name; give it '
                     f'(--arch, or config.model.arch), one of {sorted(models.STAGES)}.')
  return model_arch or named


def _hf():
  try:
    import huggingface_hub  # pylint: disable=g-import-not-at-top
    # Submodules the package loads lazily: imported, they are its attributes.
    import huggingface_hub.constants  # pylint: disable=g-import-not-at-top,unused-import
    import huggingface_hub.errors  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError as e:
    raise ImportError('weights from the Hugging Face Hub need huggingface_hub: '
                      'pip install huggingface_hub') from e
  return huggingface_hub


def fetch(spec: str) -> Fetched:
  """Downloads (or finds in the cache) the spec's model.safetensors and checks its SHA-256.

  A wrong repo id, a missing file, an uncached file while offline and a hash mismatch
  each raise an error that names the spec and what to do.
  """
  hf = _hf()
  repo_id, revision = parse(spec)
  offline = hf.constants.HF_HUB_OFFLINE
  # huggingface_hub reads HF_ENDPOINT once, at import; read here, a later setting counts too.
  endpoint = os.environ.get('HF_ENDPOINT') or None
  try:
    if offline:
      path = hf.hf_hub_download(repo_id, FILENAME, revision=revision, local_files_only=True)
      # The blob's name is the ETag the Hub reported when it was downloaded.
      expected, commit = os.path.basename(os.path.realpath(path)), _commit_of(path)
    else:
      meta = _metadata(hf, spec, endpoint)
      # By the revision asked for (not the commit): the cache then records where it
      # points, which is what an offline run looks up.
      path = hf.hf_hub_download(repo_id, FILENAME, revision=revision, endpoint=endpoint)
      expected, commit = meta.etag, _commit_of(path)
  except hf.errors.RepositoryNotFoundError as e:
    raise ValueError(f'{spec}: no repository {repo_id!r} on the Hub (or a private or gated '
                     "one). timm's torchvision ResNets: "
                     + ', '.join(SCHEME + r for r in TORCHVISION)) from e
  except hf.errors.RevisionNotFoundError as e:
    raise ValueError(f'{spec}: {repo_id} has no revision {revision!r}') from e
  except hf.errors.LocalEntryNotFoundError as e:
    raise FileNotFoundError(
        f'{spec}: HF_HUB_OFFLINE is set and {repo_id}/{FILENAME} is not in the Hugging Face '
        f'cache ({hf.constants.HF_HUB_CACHE}). Run once with network access (or unset '
        'HF_HUB_OFFLINE), or point HF_HUB_CACHE at a cache that holds it.') from e
  except hf.errors.EntryNotFoundError as e:
    raise FileNotFoundError(
        f'{spec}: {repo_id} has no {FILENAME}; only a safetensors file converts without '
        'torch (a .pth converts with torch: see weights/README.md).') from e
  check_sha256(path, expected, f'{spec} ({repo_id}/{FILENAME} at commit {commit})')
  return Fetched(repo_id, revision, commit, path, expected)


def _metadata(hf, spec: str, endpoint: Optional[str]):
  """The Hub's record of the spec's file, asked once (hf_hub_download would retry a Hub
  it cannot reach for half a minute, a warning each time); a Hub that cannot be reached
  is one line: the file's URL, and the two ways on without the Hub."""
  repo_id, revision = parse(spec)
  url = hf.hf_hub_url(repo_id, FILENAME, revision=revision, endpoint=endpoint)
  try:
    return hf.get_hf_file_metadata(url)
  except hf.errors.HfHubHTTPError:
    raise  # the Hub answered: no such repo, revision or file (`fetch` names each)
  # The HTTP client's base error (huggingface_hub's errors derive from it): here a
  # connection refused, a name not resolved, a timeout, a proxy.
  except hf.errors.HTTPError as e:
    name = repo_id.split('/')[1].split('.')[0]
    arch_ = name if name in models.STAGES else '<arch>'
    raise ConnectionError(
        f'{spec}: the Hugging Face Hub ({endpoint or hf.constants.ENDPOINT}) cannot be '
        f'reached ({type(e).__name__}: {e}). Give the weights by hand: download {url} where '
        "there is a network (or torchvision's .pth: weights/README.md), then python -m "
        f'adafilter_jax.weights.convert {FILENAME} weights/{arch_} --arch {arch_} and '
        f'--config.pretrained=weights/{arch_}; or run offline from a Hugging Face cache '
        'that holds it: HF_HUB_CACHE=<that cache> HF_HUB_OFFLINE=1.') from None


def _commit_of(path: str) -> str:
  return os.path.basename(os.path.dirname(path))  # .../snapshots/<commit>/<file>


def sha256_of(path: str) -> str:
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(1 << 20), b''):
      digest.update(chunk)
  return digest.hexdigest()


def check_sha256(path: str, expected: Optional[str], what: str) -> None:
  """Raises ValueError unless `path`'s SHA-256 is `expected`; a mismatching download is
  deleted from the cache (its blob and snapshot link), so the next try fetches it anew."""
  if not _SHA256.match(expected or ''):
    raise ValueError(f'{what}: the Hub reports no SHA-256 for it (ETag {expected!r}: not an '
                     'LFS file), so its integrity cannot be checked.')
  actual = sha256_of(path)
  if actual != expected:
    blob = os.path.realpath(path)
    for p in {blob, path}:
      if os.path.lexists(p):
        os.remove(p)
    raise ValueError(f'{what}: SHA-256 {actual} does not match the {expected} the Hub reports '
                     'for it: a corrupt or truncated download. Deleted it from the cache; run '
                     'again to download it anew.')
