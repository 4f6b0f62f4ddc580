/*
 * A small C host of libsecrets_core: open a vault on a SQLite file,
 * bootstrap an Admin, log in, authenticate the access token as a server
 * would, store and inject an app secret, and verify the audit chain.
 *
 * Build with only the header, the library and pkg-config:
 *   cc -std=c11 $(pkg-config --cflags secrets_core) host.c \
 *      $(pkg-config --static --libs secrets_core) -o host
 *   ./host /tmp/host-vault.db
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secrets_core.h"

/* Prints the failure with the library's detailed message and exits. */
static void check(sc_result r, const char *what) {
    if (r == SC_OK) {
        return;
    }
    char msg[512];
    size_t len = 0;
    if (sc_last_error_message(msg, sizeof msg, &len) != SC_OK) {
        msg[0] = '\0';
    }
    fprintf(stderr, "%s: %s (%s)\n", what, sc_result_name(r), msg);
    exit(1);
}

int main(int argc, char **argv) {
    if (strcmp(sc_version(), SC_VERSION) != 0) {
        fprintf(stderr, "header %s, library %s\n", SC_VERSION, sc_version());
        return 1;
    }
    const char *file = argc > 1 ? argv[1] : "host-vault.db";
    char url[512];
    snprintf(url, sizeof url, "sqlite:%s", file);

    /* In production the master key comes from a secret manager:
       sc_keyring_from_base64(key, len, active_key_id, &ring). */
    sc_keyring *ring = NULL;
    check(sc_keyring_generate(&ring), "keyring");
    sc_vault *vault = NULL;
    check(sc_vault_open(url, strlen(url), NULL, 0, ring, 10, &vault), "open");
    sc_keyring_free(ring);

    const char *tenant = "00000000-0000-0000-0000-000000000000";
    const char *login = "ada@example.com";
    const char *password = "correct horse battery staple";
    char admin_id[SC_ID_SIZE];
    check(sc_vault_bootstrap(vault, tenant, strlen(tenant), "acme", 4, login, strlen(login), password,
                             strlen(password), NULL, 0, admin_id, sizeof admin_id),
          "bootstrap");

    sc_secret *access = NULL, *refresh = NULL;
    check(sc_vault_login(vault, tenant, strlen(tenant), login, strlen(login), password, strlen(password),
                         "203.0.113.7", 11, &access, &refresh),
          "login");
    const uint8_t *token = NULL;
    size_t token_len = 0;
    check(sc_secret_expose(access, &token, &token_len), "expose");

    /* Per request: the Authorization header becomes a caller. */
    sc_caller *ada = NULL;
    check(sc_vault_authenticate(vault, (const char *)token, token_len, "203.0.113.7", 11, &ada),
          "authenticate");

    const char *value = "postgres://db/web";
    check(sc_vault_set_secret(vault, ada, "web", 3, "DATABASE_URL", 12, (const uint8_t *)value,
                              strlen(value), NULL),
          "set secret");
    sc_secret *env = NULL;
    check(sc_vault_inject(vault, ada, "web", 3, &env), "inject");
    const uint8_t *block = NULL;
    size_t block_len = 0;
    check(sc_secret_expose(env, &block, &block_len), "expose env");
    /* NUL-separated NAME=value entries: print the names only. */
    for (size_t i = 0; i < block_len; i += strlen((const char *)block + i) + 1) {
        const char *entry = (const char *)block + i;
        printf("injected %.*s\n", (int)(strchr(entry, '=') - entry), entry);
    }
    sc_secret_free(env);

    uint64_t events = 0;
    check(sc_vault_verify_audit_log(vault, ada, &events), "verify audit log");
    printf("audit chain verified: %llu events\n", (unsigned long long)events);

    sc_caller_free(ada);
    sc_secret_free(access);
    sc_secret_free(refresh);
    sc_vault_free(vault);
    return 0;
}
