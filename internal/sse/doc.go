// Package sse is NebulaIO's encryption at rest: the object keys, how they are sealed by a
// master key (SSE-S3) or a customer's key (SSE-C), and the chunked AES-256-GCM format of an
// encrypted blob, which lets a range read decrypt only the chunks it covers. It knows nothing
// of HTTP, the FSM or the data plane: the S3 layer (httpapi/s3) encrypts a request body on its
// way into the data plane, records the sealed key in the object's metadata (fsm.Encryption),
// and decrypts on the way out, so the blob store and every replica hold ciphertext only.
//
// # Object keys
//
// Every encrypted object has its own object key: 32 bytes from crypto/rand, drawn when the
// object is written (PutObject, CopyObject, a POST upload) or when its multipart upload is
// created (every part of the upload is encrypted under the upload's key, and the object the
// completion makes inherits it). The object key is never stored in the clear: the metadata
// holds it sealed (below). A copy draws a new key and re-encrypts.
//
// # Sealed object key (fsm.Encryption.SealedKey), 61 bytes
//
//	+------------+------------------+------------------------------------------------+
//	| version u8 | nonce (12 bytes) | AES-256-GCM seal of the 32-byte object key     |
//	|   = 0x01   | crypto/rand      | (32 bytes of ciphertext, then the 16-byte tag) |
//	+------------+------------------+------------------------------------------------+
//
// The key-encryption key (KEK) and the additional data (AAD) of the seal depend on who holds
// the key:
//
//	SSE-S3  KEK = HKDF-SHA256(secret = master key, salt = none, info = "nebulaio sse v1 kek sse-s3")
//	        AAD = "nebulaio sse v1 sse-s3 " + master key id
//	SSE-C   KEK = HKDF-SHA256(secret = customer key, salt = none, info = "nebulaio sse v1 kek sse-c")
//	        AAD = "nebulaio sse v1 sse-c"
//
// Unsealing with any other key fails GCM's authentication (ErrWrongKey): the sealed key is
// also the verifier that tells a wrong customer key from the right one, so nothing derived
// from a customer's key but this seal is stored — not the key, not its MD5. The random nonce
// makes two seals of one customer key unrelated, so the metadata does not reveal which
// objects share a key. Any other version byte or length is ErrSealedKey.
//
// # Master keys and their IDs
//
// SSE-S3 object keys are sealed by the current master key of a Keyring (32 bytes, given in
// base64); older keys stay in the keyring to unseal what they sealed, so rotation is: make
// the new key current, keep the old one as an old key, and every object stays readable (new
// objects use the new key; copying an object onto itself re-seals it with the current key). A
// key's ID is derived from the key, so two nodes can never disagree about what an ID names:
//
//	key id = lowercase hex of the first 8 bytes of SHA-256("nebulaio sse v1 key id" || 0x00 || key)
//
// The ID is stored with every sealed key (fsm.Encryption.KeyID). A sealed key whose ID is
// not in the keyring is ErrUnknownKey, which names the ID so that an operator knows which key
// to add.
//
// # Encrypted blob format
//
// Each blob (a PutObject body, one multipart part) gets its own key, derived from the object
// key and the blob's ID — blob IDs are 128 random bits and never reused, so no two blobs
// share a key even within one multipart upload, and moving one part's bytes under another
// part's ID fails authentication:
//
//	blob key = HKDF-SHA256(secret = object key, salt = none, info = "nebulaio sse v1 blob " + blob id), 32 bytes
//
// The plaintext is cut into chunks of ChunkSize (65536) bytes; the last one holds the rest
// (1..65536 bytes), and an empty plaintext is one empty chunk. Chunk i is sealed with AES-256-GCM
// under the blob key, without additional data, with the 12-byte nonce
//
//	+--------------------------+---------------------------------------+
//	| u64 big-endian chunk i   | u32 big-endian: 1 final chunk, else 0 |
//	+--------------------------+---------------------------------------+
//
// and the blob is the sealed chunks one after another, with no header or trailer:
//
//	+---------------------------------+---------------------------------+-----+------------------------------+
//	| chunk 0: 65536 bytes + 16 tag   | chunk 1: 65536 bytes + 16 tag   | ... | last chunk: 0..65536 + 16 tag |
//	+---------------------------------+---------------------------------+-----+------------------------------+
//
// So a blob of p plaintext bytes is CiphertextSize(p) = p + 16·max(1, ⌈p/65536⌉) bytes, and
// PlaintextSize inverts that (refusing sizes the writer never produces). The chunk index in
// the nonce stops chunks from being reordered, the final flag stops a blob from being cut at
// a chunk boundary or extended, and the per-blob key stops chunks from moving between blobs.
// A chunk that fails authentication is ErrTampered: corruption the blob store's checksums
// missed, or bytes changed on purpose — never served.
//
// A read of plaintext bytes [off, off+n) opens only the sealed chunks ⌊off/65536⌋ through
// ⌊(off+n-1)/65536⌋ of the blob, decrypts them, and drops the bytes outside the range: a
// range costs at most two chunks more than its length. A read that reaches the blob's last
// chunk asks the opener for the blob to its end, so the store's whole-blob checksum is checked
// too.
//
// # SSE-C keys
//
// ParseCustomerKey checks S3's three headers: the algorithm must be AES256, the key 32 bytes
// in base64, and the key's MD5 (base64) must match the key. The key itself is used only to
// seal and unseal the object key; it is never written anywhere.
package sse
