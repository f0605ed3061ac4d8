/*
 * sha256.h: SHA-256 (FIPS 180-4), written for this project, to fingerprint weight files in
 * the stores that are computed with them.
 */
#ifndef ELMO_SHA256_H
#define ELMO_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct elmo_sha256 {
    uint32_t h[8];    /* the chaining value */
    uint64_t n_bytes; /* message length so far */
    uint8_t buf[64];  /* the partial block */
    size_t n_buf;     /* bytes in buf */
};

/* Starts a digest.  Not collective. */
void elmo_sha256_init(struct elmo_sha256 *s);

/* Adds len bytes of data. */
void elmo_sha256_update(struct elmo_sha256 *s, const void *data, size_t len);

/* Finishes: writes the 32-byte digest; s must be re-initialised before another use. */
void elmo_sha256_final(struct elmo_sha256 *s, uint8_t digest[32]);

/* Writes a 32-byte digest as 64 lowercase hex digits and a NUL. */
void elmo_sha256_hex(const uint8_t digest[32], char hex[65]);

/*
 * The SHA-256 of a whole file as lowercase hex (what `sha256sum` prints).
 * Returns 0, or ELMO_ERR_IO with a message naming the file.  Not collective.
 */
int elmo_file_sha256(const char *path, char hex[65]);

#endif /* ELMO_SHA256_H */
