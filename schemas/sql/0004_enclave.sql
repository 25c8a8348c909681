-- 0004: enclave emulation. Datasets and their X25519 key pairs (the private key sealed with the
-- service master key: AES-256-GCM, associated data "dataset:<id>"), single-use attestation
-- nonces, and the rotating ES256 keys that sign attestation tokens (private keys sealed the
-- same way). The key broker releases a dataset's private key only to an attested worker.

CREATE TABLE datasets (
  id                 text        PRIMARY KEY CHECK (id ~ '^ds_[0-9a-f]{16}$'),
  project            text        NOT NULL,
  name               text        NOT NULL,
  -- 'input': registered by a data owner; 'outputs': the project's own key for sealed outputs.
  kind               text        NOT NULL CHECK (kind IN ('input', 'outputs')),
  description        text        NOT NULL DEFAULT '',
  public_key         bytea       NOT NULL CHECK (octet_length(public_key) = 32),
  sealed_private_key bytea       NOT NULL,
  master_key_id      text        NOT NULL,
  release_policy     jsonb       NOT NULL,
  allow_plain        boolean     NOT NULL DEFAULT false,
  location           text,       -- URL prefix of the dataset's files; NULL: none declared
  created_by         text        NOT NULL,
  created_at         timestamptz NOT NULL DEFAULT now(),
  revoked_at         timestamptz,
  UNIQUE (project, name)
);
CREATE UNIQUE INDEX datasets_one_outputs_key_per_project ON datasets (project)
  WHERE kind = 'outputs';

CREATE TABLE attestation_nonces (
  nonce      text        PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL,
  used_at    timestamptz
);
CREATE INDEX attestation_nonces_by_expiry ON attestation_nonces (expires_at);

CREATE TABLE attestation_signing_keys (
  kid                text        PRIMARY KEY,
  created_at         timestamptz NOT NULL DEFAULT now(),
  sealed_private_key bytea       NOT NULL,
  master_key_id      text        NOT NULL,
  public_jwk         jsonb       NOT NULL
);
