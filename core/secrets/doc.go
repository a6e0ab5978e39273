// Package secrets encrypts the secrets Conversa keeps at rest: the channel
// settings that authenticate it to the providers and the providers to it
// (access tokens, app secrets, webhook and verify tokens).
//
// One 256-bit key encrypts them all with AES-256-GCM, a random 96-bit nonce
// per value. A stored value is the text envelope
//
//	enc:v1:<key id>:<base64url(nonce || ciphertext || tag)>
//
// where the key id (8 hex digits of a SHA-256 of the key) tells which key
// sealed it, so a wrong key is named at start-up instead of producing
// garbage, and the context (which integration and setting the value belongs
// to) is authenticated data: a value moved to another setting no longer
// opens.
//
// The key is a file holding the key in base64 (standard encoding, one
// line), generated with mode 0600 in a directory of mode 0700 when missing,
// or the CONVERSA_SECRET_KEY environment variable, which overrides the
// file. Nodes sharing a PostgreSQL database must share the key.
package secrets
