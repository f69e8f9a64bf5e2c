/**
 * Image reference parsing: the distribution/reference grammar plus Docker Hub normalisation
 * (ecosystem.md §1). Invariants: every ImageRef has a tag or a digest (or both); `name` is always
 * domain + "/" + repository; docker.io is a naming domain and `registry` is the host to contact.
 */
import { UsageError } from '../errors.js';
import { parseDigest, type Digest } from '../oci/digest.js';
import type { ImageRef } from './types.js';

/** The naming domain of Docker Hub (`ref: normalize.go defaultDomain`). */
export const DOCKER_HUB_DOMAIN = 'docker.io';
/** Docker Hub's v2 API host: docker.io names no API host (moby/containerd/c-image `DefaultRegistryHost`). */
export const DOCKER_HUB_REGISTRY = 'registry-1.docker.io';
/** Legacy Hub domain that distribution/reference rewrites to docker.io (`ref: normalize.go legacyDefaultDomain`). */
const LEGACY_HUB_DOMAIN = 'index.docker.io';
/** Hub's namespace for official images: `alpine` means `library/alpine` (`ref: normalize.go officialRepoPrefix`). */
const OFFICIAL_REPO_PREFIX = 'library/';
/** Tag added when neither a tag nor a digest is given, as docker and crane do (`ref: TagNameOnly`). */
export const DEFAULT_TAG = 'latest';
/** Longest repository path, domain excluded (`ref: RepositoryNameTotalLengthMax`, v0.6.0+). */
const MAX_REPOSITORY_LENGTH = 255;

// Grammar from distribution/reference regexp.go (ecosystem.md §1.1).
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6_HOST = '\\[[a-fA-F0-9:]+\\]'; // no zone ids, no embedded IPv4 (ref: regexp.go ipv6address)
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6_HOST})(?::[0-9]+)?$`);
const PATH_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const IDENTIFIER_RE = /^[a-f0-9]{64}$/;

const REFERENCE_HINT = 'a reference looks like [registry[:port]/]repository[:tag][@sha256:<hex>], e.g. alpine:3.20 or ghcr.io/org/app@sha256:…';

/**
 * Returns the normalised reference for `input`, or throws UsageError naming the input and the rule
 * it breaks. `alpine` → docker.io/library/alpine:latest (registry registry-1.docker.io);
 * `name:tag@digest` keeps both and is pulled by digest, as docker and containerd do (§1.4).
 */
export function parseReference(input: string): ImageRef {
  if (input === '') throw invalid(input, 'the reference is empty');
  if (IDENTIFIER_RE.test(input)) {
    // `ref: normalize.go ParseNormalizedNamed`: a bare 64-hex string is an image ID, not a name.
    throw invalid(input, 'a 64-character hex string is an image ID, not a repository name');
  }
  const at = input.indexOf('@');
  const beforeDigest = at === -1 ? input : input.slice(0, at);
  const digest = at === -1 ? undefined : parseDigestPart(input, input.slice(at + 1));

  // A tag is whatever follows the last ':' when no '/' comes after it (so host:5000/x has no tag).
  const colon = beforeDigest.lastIndexOf(':');
  const hasTag = colon !== -1 && !beforeDigest.slice(colon + 1).includes('/');
  const namePart = hasTag ? beforeDigest.slice(0, colon) : beforeDigest;
  const tagPart = hasTag ? beforeDigest.slice(colon + 1) : undefined;
  if (tagPart !== undefined) checkTag(input, tagPart);

  const { domain, repository } = splitDomain(input, namePart);
  const tag = tagPart ?? (digest === undefined ? DEFAULT_TAG : undefined);
  return createImageRef({ domain, repository, ...(tag !== undefined ? { tag } : {}), ...(digest ? { digest } : {}) });
}

/** Builds an ImageRef from already-valid parts (used by parseReference and by code that derives refs). */
export function createImageRef(parts: { domain: string; repository: string; tag?: string; digest?: Digest }): ImageRef {
  const name = `${parts.domain}/${parts.repository}`;
  const text = name + (parts.tag !== undefined ? `:${parts.tag}` : '') + (parts.digest ? `@${parts.digest}` : '');
  return Object.freeze({
    domain: parts.domain,
    registry: parts.domain === DOCKER_HUB_DOMAIN ? DOCKER_HUB_REGISTRY : parts.domain,
    repository: parts.repository,
    ...(parts.tag !== undefined ? { tag: parts.tag } : {}),
    ...(parts.digest ? { digest: parts.digest } : {}),
    name,
    toString: () => text,
  });
}

/**
 * Returns the short form docker prints and writes into RepoTags: `docker.io/` and `library/` dropped
 * (`ref: normalize.go FamiliarString`), e.g. "alpine:latest", "ghcr.io/org/app:1".
 */
export function familiarString(ref: ImageRef): string {
  let name = ref.name;
  if (ref.domain === DOCKER_HUB_DOMAIN) {
    name = ref.repository.startsWith(OFFICIAL_REPO_PREFIX) ? ref.repository.slice(OFFICIAL_REPO_PREFIX.length) : ref.repository;
  }
  return name + (ref.tag !== undefined ? `:${ref.tag}` : '') + (ref.digest ? `@${ref.digest}` : '');
}

function parseDigestPart(input: string, text: string): Digest {
  try {
    return parseDigest(text);
  } catch (err) {
    throw invalid(input, `"${text}" is not a valid digest (sha256:<64 hex> or sha512:<128 hex>, lowercase)`, err);
  }
}

function checkTag(input: string, tag: string): void {
  if (tag.length > 128) throw invalid(input, `the tag is ${tag.length} characters long; tags are at most 128`);
  if (!TAG_RE.test(tag)) {
    throw invalid(input, `tag "${tag}" must match [A-Za-z0-9_][A-Za-z0-9_.-]* (no leading "." or "-")`);
  }
}

/** Docker Hub normalisation (`ref: normalize.go splitDockerDomain`, ecosystem.md §1.3), then validation. */
function splitDomain(input: string, name: string): { domain: string; repository: string } {
  const slash = name.indexOf('/');
  const first = slash === -1 ? '' : name.slice(0, slash);
  // The first component is a domain when it has a '.' or ':', is "localhost", or has uppercase
  // (paths never do); otherwise the whole name is a Docker Hub path.
  const isDomain = slash !== -1 && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase());
  let domain = isDomain ? first : DOCKER_HUB_DOMAIN;
  let repository = isDomain ? name.slice(slash + 1) : name;
  if (domain === LEGACY_HUB_DOMAIN) domain = DOCKER_HUB_DOMAIN;
  if (domain === DOCKER_HUB_DOMAIN && !repository.includes('/')) repository = OFFICIAL_REPO_PREFIX + repository;

  if (!DOMAIN_RE.test(domain)) {
    throw invalid(input, `"${domain}" is not a valid registry host (host[:port], IPv6 in brackets without a zone)`);
  }
  if (repository === '' || repository === OFFICIAL_REPO_PREFIX) throw invalid(input, 'the repository name is empty');
  if (!PATH_RE.test(repository)) {
    if (PATH_RE.test(repository.toLowerCase())) {
      throw invalid(input, `repository name "${repository}" must be lowercase`);
    }
    throw invalid(
      input,
      `repository name "${repository}" must be lowercase letters and digits in "/"-separated components, joined by ".", "_", "__" or "-"`,
    );
  }
  if (repository.length > MAX_REPOSITORY_LENGTH) {
    throw invalid(input, `repository name is ${repository.length} characters long; the limit is ${MAX_REPOSITORY_LENGTH}`);
  }
  return { domain, repository };
}

function invalid(input: string, rule: string, cause?: unknown): UsageError {
  return new UsageError(`invalid reference "${input}": ${rule}`, {
    hint: REFERENCE_HINT,
    ...(cause !== undefined ? { cause } : {}),
  });
}
