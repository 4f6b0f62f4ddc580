/*
 * The C ABI end to end, as a C host uses it: the whole flow on a temporary
 * SQLite file (and on PostgreSQL when SC_TEST_POSTGRES_URL is set), every
 * function with each required pointer NULL, every _free(NULL), bad input,
 * a caught panic, 8 threads on one vault, and a fork.
 *
 * Built by scripts/c-test.sh with -std=c11 -Wall -Wextra -Werror -pedantic
 * against the static library through pkg-config, then run plain, under
 * AddressSanitizer + UBSan (with SC_EXPECT_ASAN: the test checks that ASan
 * is really there), and under valgrind.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "secrets_core.h"

static int failures = 0;
static int checks = 0;

#define CHECK(cond)                                                        \
    do {                                                                   \
        checks++;                                                          \
        if (!(cond)) {                                                     \
            failures++;                                                    \
            fprintf(stderr, "FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                  \
    } while (0)

/* A call that must give `want`; on a mismatch, says what came instead. */
#define EXPECT(want, call)                                                 \
    do {                                                                   \
        sc_result got_ = (call);                                           \
        checks++;                                                          \
        if (got_ != (want)) {                                              \
            failures++;                                                    \
            fprintf(stderr, "FAILED %s:%d: %s gave %s, not %s: %s\n",      \
                    __FILE__, __LINE__, #call, sc_result_name(got_),       \
                    sc_result_name(want), last_error());                   \
        }                                                                  \
    } while (0)

#define OK(call) EXPECT(SC_OK, call)
#define S(lit) (lit), (sizeof(lit) - 1)

static const char *last_error(void) {
    static char buf[1024];
    size_t len = 0;
    if (sc_last_error_message(buf, sizeof buf, &len) != SC_OK) {
        return "(message too long)";
    }
    return buf;
}

static const char *TENANT = "00000000-0000-0000-0000-000000000000";
static const char *PASSWORD = "correct horse battery staple";

/* The bytes of a secret as a C string (sc_secret adds the NUL). */
static const char *expose(const sc_secret *s, size_t *len) {
    const uint8_t *data = NULL;
    size_t n = 0;
    if (sc_secret_expose(s, &data, &n) != SC_OK) {
        return "";
    }
    if (len) {
        *len = n;
    }
    return (const char *)data;
}

/* A JSON listing into a malloc'ed buffer, through the size query. */
typedef sc_result (*lister)(const sc_vault *, const sc_caller *, char *, size_t, size_t *);

static char *list(lister f, const sc_vault *v, const sc_caller *c) {
    size_t need = 0;
    if (f(v, c, NULL, 0, &need) != SC_BUFFER_TOO_SMALL || need == 0) {
        return NULL;
    }
    char *buf = malloc(need);
    size_t used = 0;
    if (buf == NULL || f(v, c, buf, need, &used) != SC_OK || used > need) {
        free(buf);
        return NULL;
    }
    return buf;
}

/* Listing wrappers with the lister shape. */
static sc_result list_users_first(const sc_vault *v, const sc_caller *c, char *b, size_t n, size_t *o) {
    return sc_vault_list_users(v, c, NULL, 0, b, n, o);
}
static sc_result list_api_tokens_first(const sc_vault *v, const sc_caller *c, char *b, size_t n, size_t *o) {
    return sc_vault_list_api_tokens(v, c, NULL, 0, b, n, o);
}
static sc_result audit_events_all(const sc_vault *v, const sc_caller *c, char *b, size_t n, size_t *o) {
    return sc_vault_audit_events(v, c, S("{\"limit\":1000}"), b, n, o);
}

/* ---------------------------------------------------------------- keyring */

static void test_keyring(void) {
    sc_keyring *ring = NULL;
    OK(sc_keyring_generate(&ring));
    sc_str ctx[] = {{S("tenant-1")}, {S("provider_key")}, {S("openai")}};
    const uint8_t plain[] = "sk-live-123";
    size_t need = 0;
    EXPECT(SC_BUFFER_TOO_SMALL,
           sc_keyring_seal(ring, ctx, 3, plain, 11, NULL, 0, &need));
    CHECK(need == 11 + SC_SEAL_OVERHEAD);
    uint8_t sealed[64];
    size_t sealed_len = 0;
    OK(sc_keyring_seal(ring, ctx, 3, plain, 11, sealed, sizeof sealed, &sealed_len));
    CHECK(sealed_len == 11 + SC_SEAL_OVERHEAD);

    sc_secret *opened = NULL;
    OK(sc_keyring_open(ring, ctx, 3, sealed, sealed_len, &opened));
    size_t n = 0;
    CHECK(strcmp(expose(opened, &n), "sk-live-123") == 0 && n == 11);
    sc_secret_free(opened);

    /* Bound to its context: another one does not open it. */
    sc_str other[] = {{S("tenant-2")}, {S("provider_key")}, {S("openai")}};
    opened = NULL;
    EXPECT(SC_ERR_DECRYPTION_FAILED, sc_keyring_open(ring, other, 3, sealed, sealed_len, &opened));
    CHECK(opened == NULL); /* outputs only on success */

    uint32_t id = 0, active = 0;
    OK(sc_keyring_rotate(ring, &id));
    CHECK(id == 2);
    OK(sc_keyring_active_key_id(ring, &active));
    CHECK(active == 2);
    uint8_t rewrapped[64];
    size_t rewrapped_len = 0;
    OK(sc_keyring_rewrap(ring, ctx, 3, sealed, sealed_len, rewrapped, sizeof rewrapped, &rewrapped_len));
    CHECK(rewrapped_len == sealed_len && memcmp(rewrapped, sealed, sealed_len) != 0);
    OK(sc_keyring_open(ring, ctx, 3, rewrapped, rewrapped_len, &opened));
    CHECK(strcmp(expose(opened, NULL), "sk-live-123") == 0);
    sc_secret_free(opened);
    sc_keyring_free(ring);

    /* A master key of the wrong length (lengths that do not match). */
    uint8_t key[32] = {0};
    ring = NULL;
    EXPECT(SC_ERR_INVALID_INPUT, sc_keyring_from_key(key, 31, 0, &ring));
    CHECK(ring == NULL);
    OK(sc_keyring_from_key(key, 32, 0, &ring));
    sc_keyring_free(ring);
    EXPECT(SC_ERR_INVALID_INPUT, sc_keyring_from_base64(S("not base64!"), 0, &ring));
}

/* -------------------------------------------------------------- webhooks */

static void test_webhooks_standalone(void) {
    /* The Standard Webhooks reference vector. */
    const char *secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const char *payload = "{\"test\": 2432232314}";
    char sig[128];
    size_t len = 0;
    OK(sc_webhook_sign(secret, strlen(secret), S("msg_p5jXN8AQM9LWM0D4loKWxJek"), 1614265330,
                       (const uint8_t *)payload, strlen(payload), sig, sizeof sig, &len));
    CHECK(strcmp(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=") == 0);
    CHECK(len == strlen(sig) + 1);

    sc_str secrets[] = {{secret, strlen(secret)}};
    sc_header headers[] = {
        {{S("webhook-id")}, {S("msg_p5jXN8AQM9LWM0D4loKWxJek")}},
        {{S("webhook-timestamp")}, {S("1614265330")}},
        {{S("webhook-signature")}, {sig, strlen(sig)}},
    };
    OK(sc_webhook_verify(secrets, 1, headers, 3, (const uint8_t *)payload, strlen(payload), 1614265330));
    /* During a rotation: any of several secrets. */
    const char *other = "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    sc_str rotation[] = {{other, strlen(other)}, {secret, strlen(secret)}};
    OK(sc_webhook_verify(rotation, 2, headers, 3, (const uint8_t *)payload, strlen(payload), 1614265330));
    EXPECT(SC_ERR_WEBHOOK_REJECTED,
           sc_webhook_verify(rotation, 1, headers, 3, (const uint8_t *)payload, strlen(payload), 1614265330));
    /* A raw string is not a Standard Webhooks secret. */
    sc_str raw[] = {{S("raw-secret")}};
    EXPECT(SC_ERR_INVALID_INPUT,
           sc_webhook_verify(raw, 1, headers, 3, (const uint8_t *)payload, strlen(payload), 1614265330));
    EXPECT(SC_ERR_WEBHOOK_REJECTED,
           sc_webhook_verify(secrets, 1, headers, 3, (const uint8_t *)"{}", 2, 1614265330));
    /* Too old: outside the 5-minute tolerance. */
    EXPECT(SC_ERR_WEBHOOK_REJECTED,
           sc_webhook_verify(secrets, 1, headers, 3, (const uint8_t *)payload, strlen(payload),
                             1614265330 + 301));
    /* A missing header: a count that leaves one out. */
    EXPECT(SC_ERR_WEBHOOK_REJECTED,
           sc_webhook_verify(secrets, 1, headers, 2, (const uint8_t *)payload, strlen(payload), 1614265330));

    /* GitHub's documented example. */
    const char *gh = "It's a Secret to Everybody";
    char ghsig[80];
    OK(sc_webhook_sign_github((const uint8_t *)"Hello, World!", 13, (const uint8_t *)gh, strlen(gh),
                              ghsig, sizeof ghsig, &len));
    CHECK(strcmp(ghsig, "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17") == 0);
    OK(sc_webhook_verify_github(ghsig, strlen(ghsig), (const uint8_t *)"Hello, World!", 13,
                                (const uint8_t *)gh, strlen(gh)));
    EXPECT(SC_ERR_WEBHOOK_REJECTED,
           sc_webhook_verify_github(ghsig, strlen(ghsig), (const uint8_t *)"Hello, World?", 13,
                                    (const uint8_t *)gh, strlen(gh)));
    /* A buffer one byte short: nothing written, the size told. */
    char small[71];
    memset(small, 'Z', sizeof small);
    EXPECT(SC_BUFFER_TOO_SMALL,
           sc_webhook_sign_github((const uint8_t *)"x", 1, (const uint8_t *)gh, strlen(gh), small,
                                  sizeof small, &len));
    CHECK(len == 72 && small[0] == 'Z' && small[70] == 'Z');
}

/* ------------------------------------------------------- threads and fork */

struct worker {
    const sc_vault *vault;
    const char *bearer;
    size_t bearer_len;
    int ok;
};

static void *authenticate_50(void *arg) {
    struct worker *w = arg;
    for (int i = 0; i < 50; i++) {
        sc_caller *c = NULL;
        if (sc_vault_authenticate(w->vault, w->bearer, w->bearer_len, S("203.0.113.9"), &c) == SC_OK) {
            uint32_t role = 0;
            if (sc_caller_role(c, &role) == SC_OK && role == SC_ROLE_ADMIN) {
                w->ok++;
            }
        }
        sc_caller_free(c);
    }
    return NULL;
}

static void test_threads(const sc_vault *vault, const char *token, size_t token_len) {
    pthread_t threads[8];
    struct worker workers[8];
    for (int i = 0; i < 8; i++) {
        workers[i] = (struct worker){vault, token, token_len, 0};
        CHECK(pthread_create(&threads[i], NULL, authenticate_50, &workers[i]) == 0);
    }
    int total = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(threads[i], NULL);
        total += workers[i].ok;
    }
    CHECK(total == 8 * 50);
}

static void test_fork(sc_vault *vault, const char *token, size_t token_len) {
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        sc_caller *c = NULL;
        sc_result r = sc_vault_authenticate(vault, token, token_len, NULL, 0, &c);
        sc_vault_free(vault); /* leaks in the child, never hangs */
        /* Leave through exec rather than exit: the child holds the
           parent's runtime, deliberately leaked, and a leak checker
           (valgrind follows a fork) would count it against the test. */
        execl("/bin/sh", "sh", "-c", r == SC_USED_AFTER_FORK && c == NULL ? "exit 0" : "exit 1",
              (char *)NULL);
        _exit(2);
    }
    CHECK(pid > 0);
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The parent's handle still works. */
    sc_caller *c = NULL;
    OK(sc_vault_authenticate(vault, token, token_len, NULL, 0, &c));
    sc_caller_free(c);
}

/* --------------------------------------------------- NULL parameter table */

/* Live handles and dummies the table's calls use where not NULL. */
static struct {
    sc_vault *vault;
    sc_caller *caller;
    sc_keyring *ring;
    sc_secret *secret;
    sc_refresh_lease *lease;
} H;

static const char X[] = "x";
#define P(i, v) (w == (i) ? NULL : (v))

static sc_result n_last_error(int w) { size_t n; return sc_last_error_message(NULL, 0, P(0, &n)); }
static sc_result n_secret_expose(int w) { const uint8_t *d; size_t n; return sc_secret_expose(P(0, H.secret), P(1, &d), P(2, &n)); }
static sc_result n_keyring_generate(int w) { sc_keyring *r; (void)w; return sc_keyring_generate(P(0, &r)); }
static sc_result n_keyring_from_key(int w) { sc_keyring *r; uint8_t k[32] = {0}; return sc_keyring_from_key(P(0, k), 32, 0, P(1, &r)); }
static sc_result n_keyring_from_base64(int w) { sc_keyring *r; return sc_keyring_from_base64(P(0, X), 1, 0, P(1, &r)); }
static sc_str CTX[] = {{"x", 1}};
static sc_result n_keyring_seal(int w) { uint8_t b[64]; size_t n; return sc_keyring_seal(P(0, H.ring), P(1, CTX), 1, P(2, (const uint8_t *)X), 1, b, sizeof b, P(3, &n)); }
static sc_result n_keyring_open(int w) { sc_secret *s; return sc_keyring_open(P(0, H.ring), P(1, CTX), 1, P(2, (const uint8_t *)X), 1, P(3, &s)); }
static sc_result n_keyring_rewrap(int w) { uint8_t b[64]; size_t n; return sc_keyring_rewrap(P(0, H.ring), P(1, CTX), 1, P(2, (const uint8_t *)X), 1, b, sizeof b, P(3, &n)); }
static sc_result n_keyring_rotate(int w) { uint32_t id; return sc_keyring_rotate(P(0, H.ring), P(1, &id)); }
static sc_result n_keyring_active(int w) { uint32_t id; return sc_keyring_active_key_id(P(0, H.ring), P(1, &id)); }
static sc_result n_postgres_migrate(int w) { return sc_postgres_migrate(P(0, X), 1, NULL, 0); }
static sc_result n_vault_open(int w) { sc_vault *v; return sc_vault_open(P(0, "memory:"), 7, NULL, 0, P(1, H.ring), 10, P(2, &v)); }
static sc_result n_vault_open_ks(int w) { sc_vault *v; return sc_vault_open_with_key_store(P(0, "memory:"), 7, NULL, 0, P(1, "memory:"), 7, P(2, H.ring), 10, P(3, &v)); }
static sc_result n_deletion_protection(int w) { return sc_vault_set_deletion_protection(P(0, H.vault), P(1, H.caller), false); }
static sc_result n_erase_tenant(int w) { return sc_vault_erase_tenant(P(0, H.vault), P(1, H.caller)); }
static sc_result n_authenticate(int w) { sc_caller *c; return sc_vault_authenticate(P(0, H.vault), P(1, X), 1, NULL, 0, P(2, &c)); }
static sc_result n_caller_system(int w) { sc_caller *c; return sc_caller_system(P(0, TENANT), strlen(TENANT), P(1, &c)); }
static sc_result n_caller_user_id(int w) { char b[SC_ID_SIZE]; return sc_caller_user_id(P(0, H.caller), P(1, b), sizeof b); }
static sc_result n_caller_tenant(int w) { char b[SC_ID_SIZE]; return sc_caller_tenant(P(0, H.caller), P(1, b), sizeof b); }
static sc_result n_caller_role(int w) { uint32_t r; return sc_caller_role(P(0, H.caller), P(1, &r)); }
static sc_result n_bootstrap(int w) { char b[SC_ID_SIZE]; return sc_vault_bootstrap(P(0, H.vault), P(1, X), 1, P(2, X), 1, P(3, X), 1, P(4, X), 1, NULL, 0, P(5, b), sizeof b); }
static sc_result n_create_user(int w) { char b[SC_ID_SIZE]; return sc_vault_create_user(P(0, H.vault), P(1, H.caller), P(2, X), 1, SC_ROLE_VIEWER, NULL, 0, P(3, b), sizeof b); }
static sc_result n_change_role(int w) { return sc_vault_change_role(P(0, H.vault), P(1, H.caller), P(2, X), 1, SC_ROLE_VIEWER); }
static sc_result n_set_user_enabled(int w) { return sc_vault_set_user_enabled(P(0, H.vault), P(1, H.caller), P(2, X), 1, true); }
static sc_result n_list_users(int w) { size_t n; return sc_vault_list_users(P(0, H.vault), P(1, H.caller), NULL, 0, NULL, 0, P(2, &n)); }
static sc_result n_login(int w) { sc_secret *a, *r; return sc_vault_login(P(0, H.vault), P(1, X), 1, P(2, X), 1, P(3, X), 1, NULL, 0, P(4, &a), P(5, &r)); }
static sc_result n_refresh(int w) { sc_secret *a, *r; return sc_vault_refresh(P(0, H.vault), P(1, X), 1, NULL, 0, P(2, &a), P(3, &r)); }
static sc_result n_logout(int w) { return sc_vault_logout(P(0, H.vault), P(1, X), 1, NULL, 0); }
static sc_str SCOPES[] = {{"*", 1}};
static sc_result n_mint(int w) { char b[SC_ID_SIZE]; sc_secret *t; return sc_vault_mint_api_token(P(0, H.vault), P(1, H.caller), P(2, X), 1, P(3, X), 1, P(4, SCOPES), 1, 0, P(5, b), sizeof b, P(6, &t)); }
static sc_result n_list_tokens(int w) { size_t n; return sc_vault_list_api_tokens(P(0, H.vault), P(1, H.caller), NULL, 0, NULL, 0, P(2, &n)); }
static sc_result n_revoke_token(int w) { return sc_vault_revoke_api_token(P(0, H.vault), P(1, H.caller), P(2, X), 1); }
static sc_result n_start_agent(int w) { char b[SC_ID_SIZE]; sc_secret *t; return sc_vault_start_agent_session(P(0, H.vault), P(1, H.caller), P(2, X), 1, P(3, SCOPES), 1, 0, P(4, b), sizeof b, P(5, &t)); }
static sc_result n_list_agents(int w) { size_t n; return sc_vault_list_agent_sessions(P(0, H.vault), P(1, H.caller), NULL, 0, P(2, &n)); }
static sc_result n_revoke_agent(int w) { return sc_vault_revoke_agent_session(P(0, H.vault), P(1, H.caller), P(2, X), 1); }
static sc_result n_agents_enabled(int w) { return sc_vault_set_agent_sessions_enabled(P(0, H.vault), P(1, H.caller), true); }
static sc_result n_set_secret(int w) { return sc_vault_set_secret(P(0, H.vault), P(1, H.caller), P(2, X), 1, P(3, X), 1, P(4, (const uint8_t *)X), 1, NULL); }
static sc_result n_delete_secret(int w) { return sc_vault_delete_secret(P(0, H.vault), P(1, H.caller), P(2, X), 1, P(3, X), 1); }
static sc_result n_list_secrets(int w) { size_t n; return sc_vault_list_secrets(P(0, H.vault), P(1, H.caller), P(2, X), 1, NULL, 0, P(3, &n)); }
static sc_result n_inject(int w) { sc_secret *e; return sc_vault_inject(P(0, H.vault), P(1, H.caller), P(2, X), 1, P(3, &e)); }
static sc_result n_set_setting(int w) { return sc_vault_set_setting_secret(P(0, H.vault), P(1, H.caller), P(2, X), 1, P(3, (const uint8_t *)X), 1); }
static sc_result n_clear_setting(int w) { return sc_vault_clear_setting_secret(P(0, H.vault), P(1, H.caller), P(2, X), 1); }
static sc_result n_setting_is_set(int w) { bool b; return sc_vault_setting_secret_is_set(P(0, H.vault), P(1, H.caller), P(2, X), 1, P(3, &b)); }
static sc_result n_list_settings(int w) { size_t n; return sc_vault_list_setting_secrets(P(0, H.vault), P(1, H.caller), NULL, 0, P(2, &n)); }
static sc_result n_read_setting(int w) { sc_secret *s; return sc_vault_read_setting_secret(P(0, H.vault), P(1, H.caller), P(2, X), 1, P(3, &s)); }
static sc_header HEADERS[] = {{{"x", 1}, {"x", 1}}};
static sc_result n_webhook_sign(int w) { size_t n; return sc_webhook_sign(P(0, X), 1, P(1, X), 1, 1, P(2, (const uint8_t *)X), 1, NULL, 0, P(3, &n)); }
static sc_result n_webhook_verify(int w) { return sc_webhook_verify(P(0, CTX), 1, P(1, HEADERS), 1, P(2, (const uint8_t *)X), 1, 1); }
static sc_result n_sign_github(int w) { size_t n; return sc_webhook_sign_github(P(0, (const uint8_t *)X), 1, P(1, (const uint8_t *)X), 1, NULL, 0, P(2, &n)); }
static sc_result n_verify_github(int w) { return sc_webhook_verify_github(P(0, X), 1, P(1, (const uint8_t *)X), 1, P(2, (const uint8_t *)X), 1); }
static sc_result n_register_endpoint(int w) { char b[SC_ID_SIZE]; sc_secret *s; return sc_vault_register_webhook_endpoint(P(0, H.vault), P(1, H.caller), P(2, X), 1, P(3, X), 1, P(4, b), sizeof b, P(5, &s)); }
static sc_result n_sign_webhook(int w) { int64_t ts; char b[SC_SIGNATURE_SIZE]; size_t n; return sc_vault_sign_webhook(P(0, H.vault), P(1, H.caller), P(2, X), 1, P(3, X), 1, P(4, (const uint8_t *)X), 1, P(5, &ts), b, sizeof b, P(6, &n)); }
static sc_result n_register_source(int w) { return sc_vault_register_webhook_source(P(0, H.vault), P(1, H.caller), P(2, X), 1, SC_SOURCE_GITHUB, P(3, X), 1); }
static sc_result n_verify_inbound(int w) { return sc_vault_verify_inbound_webhook(P(0, H.vault), P(1, X), 1, P(2, X), 1, P(3, HEADERS), 1, P(4, (const uint8_t *)X), 1, NULL, 0); }
static sc_result n_audit_events(int w) { size_t n; return sc_vault_audit_events(P(0, H.vault), P(1, H.caller), NULL, 0, NULL, 0, P(2, &n)); }
static sc_result n_verify_audit(int w) { uint64_t c; return sc_vault_verify_audit_log(P(0, H.vault), P(1, H.caller), P(2, &c)); }
static sc_result n_checkpoint(int w) { size_t n; return sc_vault_audit_checkpoint(P(0, H.vault), P(1, H.caller), NULL, 0, P(2, &n)); }
static sc_result n_verify_checkpoint(int w) { uint64_t c; return sc_vault_verify_checkpoint(P(0, H.vault), P(1, H.caller), P(2, X), 1, P(3, &c)); }
static sc_result n_prune(int w) { uint64_t c; return sc_vault_prune(P(0, H.vault), P(1, H.caller), P(2, &c)); }
static sc_result n_gate_evaluate(int w) { uint32_t d; size_t n; return sc_gate_evaluate(SC_GATE_HARDENED, P(0, X), 1, P(1, X), 1, P(2, &d), NULL, 0, P(3, &n)); }
static sc_result n_evaluate_deploy(int w) { uint32_t d; return sc_vault_evaluate_deploy(P(0, H.vault), P(1, H.caller), P(2, X), 1, SC_GATE_HARDENED, P(3, X), 1, P(4, X), 1, P(5, &d)); }
static sc_result n_override_gate(int w) { return sc_vault_override_gate(P(0, H.vault), P(1, H.caller), P(2, X), 1, P(3, X), 1); }
static sc_result n_token_scan(int w) { size_t n; return sc_token_scan(P(0, X), 1, NULL, 0, NULL, 0, P(1, &n)); }
static sc_result n_store_oauth(int w) { return sc_vault_store_oauth_tokens(P(0, H.vault), P(1, H.caller), P(2, X), 1, P(3, (const uint8_t *)X), 1); }
static sc_result n_begin_refresh(int w) { uint32_t s; sc_secret *t; sc_refresh_lease *l; uint64_t r; return sc_vault_begin_refresh(P(0, H.vault), P(1, H.caller), P(2, X), 1, P(3, X), 1, P(4, &s), P(5, &t), P(6, &l), P(7, &r)); }
static sc_result n_complete_refresh(int w) { return sc_vault_complete_refresh(P(0, H.vault), P(1, H.caller), P(2, H.lease), P(3, (const uint8_t *)X), 1); }
static sc_result n_abandon_refresh(int w) { return sc_vault_abandon_refresh(P(0, H.vault), P(1, H.caller), P(2, H.lease), false, NULL, 0); }
static sc_result n_list_oauth(int w) { size_t n; return sc_vault_list_oauth_connections(P(0, H.vault), P(1, H.caller), NULL, 0, P(2, &n)); }
static sc_result n_test_panic(int w) { (void)w; return sc_test_panic(NULL); }

static const struct {
    const char *name;
    sc_result (*call)(int which_null);
    int required;
} NULL_TABLE[] = {
    {"sc_last_error_message", n_last_error, 1},
    {"sc_secret_expose", n_secret_expose, 3},
    {"sc_keyring_generate", n_keyring_generate, 1},
    {"sc_keyring_from_key", n_keyring_from_key, 2},
    {"sc_keyring_from_base64", n_keyring_from_base64, 2},
    {"sc_keyring_seal", n_keyring_seal, 4},
    {"sc_keyring_open", n_keyring_open, 4},
    {"sc_keyring_rewrap", n_keyring_rewrap, 4},
    {"sc_keyring_rotate", n_keyring_rotate, 2},
    {"sc_keyring_active_key_id", n_keyring_active, 2},
    {"sc_postgres_migrate", n_postgres_migrate, 1},
    {"sc_vault_open", n_vault_open, 3},
    {"sc_vault_open_with_key_store", n_vault_open_ks, 4},
    {"sc_vault_set_deletion_protection", n_deletion_protection, 2},
    {"sc_vault_erase_tenant", n_erase_tenant, 2},
    {"sc_vault_authenticate", n_authenticate, 3},
    {"sc_caller_system", n_caller_system, 2},
    {"sc_caller_user_id", n_caller_user_id, 2},
    {"sc_caller_tenant", n_caller_tenant, 2},
    {"sc_caller_role", n_caller_role, 2},
    {"sc_vault_bootstrap", n_bootstrap, 6},
    {"sc_vault_create_user", n_create_user, 4},
    {"sc_vault_change_role", n_change_role, 3},
    {"sc_vault_set_user_enabled", n_set_user_enabled, 3},
    {"sc_vault_list_users", n_list_users, 3},
    {"sc_vault_login", n_login, 6},
    {"sc_vault_refresh", n_refresh, 4},
    {"sc_vault_logout", n_logout, 2},
    {"sc_vault_mint_api_token", n_mint, 7},
    {"sc_vault_list_api_tokens", n_list_tokens, 3},
    {"sc_vault_revoke_api_token", n_revoke_token, 3},
    {"sc_vault_start_agent_session", n_start_agent, 6},
    {"sc_vault_list_agent_sessions", n_list_agents, 3},
    {"sc_vault_revoke_agent_session", n_revoke_agent, 3},
    {"sc_vault_set_agent_sessions_enabled", n_agents_enabled, 2},
    {"sc_vault_set_secret", n_set_secret, 5},
    {"sc_vault_delete_secret", n_delete_secret, 4},
    {"sc_vault_list_secrets", n_list_secrets, 4},
    {"sc_vault_inject", n_inject, 4},
    {"sc_vault_set_setting_secret", n_set_setting, 4},
    {"sc_vault_clear_setting_secret", n_clear_setting, 3},
    {"sc_vault_setting_secret_is_set", n_setting_is_set, 4},
    {"sc_vault_list_setting_secrets", n_list_settings, 3},
    {"sc_vault_read_setting_secret", n_read_setting, 4},
    {"sc_webhook_sign", n_webhook_sign, 4},
    {"sc_webhook_verify", n_webhook_verify, 3},
    {"sc_webhook_sign_github", n_sign_github, 3},
    {"sc_webhook_verify_github", n_verify_github, 3},
    {"sc_vault_register_webhook_endpoint", n_register_endpoint, 6},
    {"sc_vault_sign_webhook", n_sign_webhook, 7},
    {"sc_vault_register_webhook_source", n_register_source, 4},
    {"sc_vault_verify_inbound_webhook", n_verify_inbound, 5},
    {"sc_vault_audit_events", n_audit_events, 3},
    {"sc_vault_verify_audit_log", n_verify_audit, 3},
    {"sc_vault_audit_checkpoint", n_checkpoint, 3},
    {"sc_vault_verify_checkpoint", n_verify_checkpoint, 4},
    {"sc_vault_prune", n_prune, 3},
    {"sc_gate_evaluate", n_gate_evaluate, 4},
    {"sc_vault_evaluate_deploy", n_evaluate_deploy, 6},
    {"sc_vault_override_gate", n_override_gate, 4},
    {"sc_token_scan", n_token_scan, 2},
    {"sc_vault_store_oauth_tokens", n_store_oauth, 4},
    {"sc_vault_begin_refresh", n_begin_refresh, 8},
    {"sc_vault_complete_refresh", n_complete_refresh, 4},
    {"sc_vault_abandon_refresh", n_abandon_refresh, 3},
    {"sc_vault_list_oauth_connections", n_list_oauth, 3},
    {"sc_test_panic", n_test_panic, 1},
};

static void test_null_parameters(void) {
    size_t count = sizeof NULL_TABLE / sizeof NULL_TABLE[0];
    for (size_t i = 0; i < count; i++) {
        for (int w = 0; w < NULL_TABLE[i].required; w++) {
            sc_result r = NULL_TABLE[i].call(w);
            checks++;
            if (r != SC_NULL_PARAMETER) {
                failures++;
                fprintf(stderr, "FAILED: %s with required pointer %d NULL gave %s\n",
                        NULL_TABLE[i].name, w, sc_result_name(r));
            }
        }
    }
    /* The message names the argument. */
    sc_caller *c = NULL;
    EXPECT(SC_NULL_PARAMETER, sc_vault_authenticate(H.vault, NULL, 3, NULL, 0, &c));
    CHECK(strstr(last_error(), "`bearer`") != NULL);
}

/* ------------------------------------------------------------- the flow */

static int contains(const char *haystack, const char *needle) {
    return haystack != NULL && strstr(haystack, needle) != NULL;
}

static void test_oauth(const sc_vault *vault, const sc_caller *admin, const char *admin_id) {
    const char *first = "{\"access_token\":\"at-1\",\"token_type\":\"Bearer\",\"expires_in\":60,"
                        "\"refresh_token\":\"rt-1\"}";
    OK(sc_vault_store_oauth_tokens(vault, admin, S("github"), (const uint8_t *)first, strlen(first)));

    uint32_t state = 0;
    sc_secret *token = NULL;
    sc_refresh_lease *lease = NULL;
    uint64_t retry = 99;
    OK(sc_vault_begin_refresh(vault, admin, admin_id, strlen(admin_id), S("github"), &state, &token,
                              &lease, &retry));
    CHECK(state == SC_REFRESH_NEEDED && lease != NULL && retry == 0);
    CHECK(strcmp(expose(token, NULL), "rt-1") == 0);
    sc_secret_free(token);

    /* A second attempt meanwhile is told to wait. */
    sc_refresh_lease *other = NULL;
    OK(sc_vault_begin_refresh(vault, admin, admin_id, strlen(admin_id), S("github"), &state, &token,
                              &other, &retry));
    CHECK(state == SC_REFRESH_BUSY && token == NULL && other == NULL && retry > 0);

    /* The table's lease-taking calls need a live lease. */
    H.lease = lease;
    test_null_parameters();

    /* A response that does not parse: refused, nothing stored. */
    EXPECT(SC_ERR_INVALID_INPUT, sc_vault_complete_refresh(vault, admin, lease, (const uint8_t *)"nope", 4));
    const char *second = "{\"access_token\":\"at-2\",\"token_type\":\"Bearer\",\"expires_in\":3600}";
    OK(sc_vault_complete_refresh(vault, admin, lease, (const uint8_t *)second, strlen(second)));
    sc_refresh_lease_free(lease);
    H.lease = NULL;

    OK(sc_vault_begin_refresh(vault, admin, admin_id, strlen(admin_id), S("github"), &state, &token,
                              &lease, &retry));
    CHECK(state == SC_REFRESH_FRESH && lease == NULL);
    CHECK(strcmp(expose(token, NULL), "at-2") == 0);
    sc_secret_free(token);

    /* A refresh the provider refused for good. */
    OK(sc_vault_store_oauth_tokens(vault, admin, S("gitlab"), (const uint8_t *)first, strlen(first)));
    OK(sc_vault_begin_refresh(vault, admin, admin_id, strlen(admin_id), S("gitlab"), &state, &token,
                              &lease, &retry));
    CHECK(state == SC_REFRESH_NEEDED);
    sc_secret_free(token);
    OK(sc_vault_abandon_refresh(vault, admin, lease, true, NULL, 0));
    sc_refresh_lease_free(lease);
    char *conns = list(sc_vault_list_oauth_connections, vault, admin);
    CHECK(contains(conns, "\"needs_reconnect\":true") && !contains(conns, "at-2"));
    free(conns);
    token = NULL;
    EXPECT(SC_ERR_OAUTH_FAILED, sc_vault_begin_refresh(vault, admin, admin_id, strlen(admin_id),
                                                      S("gitlab"), &state, &token, &lease, &retry));
    CHECK(token == NULL);
}

static void test_bad_input(const sc_vault *vault, const sc_caller *admin) {
    sc_secret *a = NULL, *r = NULL;
    /* Invalid UTF-8, and an embedded NUL, where text is expected. */
    EXPECT(SC_INVALID_UTF8, sc_vault_login(vault, TENANT, strlen(TENANT), "\xff\xfe", 2, S("pw"), NULL, 0, &a, &r));
    EXPECT(SC_EMBEDDED_NUL, sc_vault_login(vault, TENANT, strlen(TENANT), "ada\0x", 5, S("pw"), NULL, 0, &a, &r));
    CHECK(a == NULL && r == NULL);
    /* Zero-length texts where something is required. */
    EXPECT(SC_ERR_INVALID_CREDENTIALS, sc_vault_login(vault, TENANT, strlen(TENANT), "", 0, "", 0, NULL, 0, &a, &r));
    EXPECT(SC_ERR_INVALID_INPUT, sc_vault_login(vault, "", 0, S("ada@example.com"), S("pw"), NULL, 0, &a, &r));
    char id[SC_ID_SIZE];
    EXPECT(SC_ERR_INVALID_INPUT, sc_vault_create_user(vault, admin, "", 0, SC_ROLE_VIEWER, NULL, 0, id, sizeof id));
    /* A role number that is no role. */
    EXPECT(SC_ERR_INVALID_INPUT, sc_vault_create_user(vault, admin, S("eve@example.com"), 99, NULL, 0, id, sizeof id));
    /* An id buffer too small: refused before the user is created. */
    char small[8];
    EXPECT(SC_BUFFER_TOO_SMALL, sc_vault_create_user(vault, admin, S("eve@example.com"), SC_ROLE_VIEWER, NULL, 0, small, sizeof small));
    char *users = list(list_users_first, vault, admin);
    CHECK(users != NULL && !contains(users, "eve@example.com"));
    free(users);
    /* A zero-length buffer: nothing written, the size told. */
    size_t need = 0;
    char one = 'Z';
    EXPECT(SC_BUFFER_TOO_SMALL, sc_vault_list_setting_secrets(vault, admin, &one, 0, &need));
    CHECK(one == 'Z' && need > 1);
    /* A NULL buffer with a length is a NULL parameter, not a size query. */
    EXPECT(SC_NULL_PARAMETER, sc_vault_list_setting_secrets(vault, admin, NULL, 10, &need));
    /* An unknown URL scheme, and bad JSON. */
    sc_vault *v = NULL;
    sc_keyring *ring = NULL;
    OK(sc_keyring_generate(&ring));
    EXPECT(SC_ERR_INVALID_INPUT, sc_vault_open(S("mysql://db"), NULL, 0, ring, 10, &v));
    CHECK(v == NULL);
    EXPECT(SC_ERR_INVALID_INPUT, sc_vault_open(S("memory:"), S("other"), ring, 10, &v));
    sc_keyring_free(ring);
    uint32_t d = 0;
    EXPECT(SC_ERR_INVALID_INPUT, sc_gate_evaluate(SC_GATE_HARDENED, S("[{"), S("[]"), &d, NULL, 0, &need));
    EXPECT(SC_ERR_INVALID_INPUT, sc_gate_evaluate(7, S("[]"), S("[]"), &d, NULL, 0, &need));
    /* The last error message, by size query. */
    size_t msg = 0;
    EXPECT(SC_BUFFER_TOO_SMALL, sc_last_error_message(NULL, 0, &msg));
    CHECK(msg > 1);
    /* Static texts. */
    CHECK(strcmp(sc_result_name(SC_ERR_NOT_FOUND), "SC_ERR_NOT_FOUND") == 0);
    CHECK(strcmp(sc_result_name(12345), "SC_UNKNOWN_RESULT") == 0);
    CHECK(strcmp(sc_result_kind_code(SC_ERR_INVALID_TOKEN), "invalid_token") == 0);
    CHECK(sc_result_kind_code(SC_PANIC) == NULL);
    CHECK(strlen(sc_result_message(SC_ERR_FORBIDDEN)) > 0);
}

/* The PostgreSQL run's schema and master key: fixed, so that a second run
   on the same database opens what the first one created (a schema
   remembers its key), and apart from every other user of the database. */
static const char *PG_SCHEMA = "sc_c_abi_smoke";
static const uint8_t PG_KEY[32] = {'s', 'c', '-', 'c', '-', 'a', 'b', 'i', '-', 's', 'm', 'o', 'k', 'e'};

static void run_flow(const char *url, const char *schema, int full) {
    sc_keyring *ring = NULL;
    if (schema != NULL) {
        OK(sc_keyring_from_key(PG_KEY, sizeof PG_KEY, 0, &ring));
    } else {
        OK(sc_keyring_generate(&ring));
    }
    sc_vault *vault = NULL;
    OK(sc_vault_open(url, strlen(url), schema, schema ? strlen(schema) : 0, ring, 10, &vault));
    sc_keyring_free(ring); /* the vault keeps its own reference */
    if (vault == NULL) {
        return;
    }

    /* A fresh tenant each run (PostgreSQL keeps its database). */
    char tenant[SC_ID_SIZE];
    snprintf(tenant, sizeof tenant, "%s", TENANT);
    if (!full) {
        snprintf(tenant, sizeof tenant, "%08x-0000-4000-8000-%012lx", (unsigned)getpid(),
                 (unsigned long)time(NULL));
    }
    char admin_id[SC_ID_SIZE];
    OK(sc_vault_bootstrap(vault, tenant, strlen(tenant), S("acme"), S("ada@example.com"), PASSWORD,
                          strlen(PASSWORD), S("203.0.113.7"), admin_id, sizeof admin_id));
    EXPECT(SC_ERR_ALREADY_EXISTS,
           sc_vault_bootstrap(vault, tenant, strlen(tenant), S("acme"), S("ada@example.com"), PASSWORD,
                              strlen(PASSWORD), NULL, 0, admin_id, sizeof admin_id));

    /* Login; a wrong password's message does not hold the password. */
    sc_secret *access = NULL, *refresh = NULL;
    EXPECT(SC_ERR_INVALID_CREDENTIALS,
           sc_vault_login(vault, tenant, strlen(tenant), S("ada@example.com"),
                          S("hunter2-wrong-password"), NULL, 0, &access, &refresh));
    CHECK(access == NULL && refresh == NULL);
    /* Freeing a failed call's (NULL) outputs keeps its message. */
    sc_secret_free(access);
    sc_secret_free(refresh);
    CHECK(contains(last_error(), "invalid credentials"));
    CHECK(!contains(last_error(), "hunter2"));
    CHECK(strlen(last_error()) > 0);
    OK(sc_vault_login(vault, tenant, strlen(tenant), S("ada@example.com"), PASSWORD, strlen(PASSWORD),
                      S("203.0.113.7"), &access, &refresh));
    char bearer[2048];
    snprintf(bearer, sizeof bearer, "Bearer %s", expose(access, NULL));
    sc_caller *admin = NULL;
    OK(sc_vault_authenticate(vault, bearer, strlen(bearer), S("203.0.113.7"), &admin));
    uint32_t role = 0;
    OK(sc_caller_role(admin, &role));
    CHECK(role == SC_ROLE_ADMIN);
    char id[SC_ID_SIZE];
    OK(sc_caller_user_id(admin, id, sizeof id));
    CHECK(strcmp(id, admin_id) == 0);
    OK(sc_caller_tenant(admin, id, sizeof id));
    CHECK(strcmp(id, tenant) == 0);

    /* Refresh rotates; logout ends the login. */
    sc_secret *access2 = NULL, *refresh2 = NULL;
    size_t rlen = 0;
    const char *rt = expose(refresh, &rlen);
    OK(sc_vault_refresh(vault, rt, rlen, NULL, 0, &access2, &refresh2));
    CHECK(strcmp(expose(refresh2, NULL), rt) != 0);
    rt = expose(refresh2, &rlen);
    OK(sc_vault_logout(vault, rt, rlen, NULL, 0));
    sc_secret *a3 = NULL, *r3 = NULL;
    EXPECT(SC_ERR_INVALID_TOKEN, sc_vault_refresh(vault, rt, rlen, NULL, 0, &a3, &r3));
    sc_secret_free(access2);
    sc_secret_free(refresh2);
    sc_secret_free(refresh);

    /* Users and roles. */
    char dev_id[SC_ID_SIZE], viewer_id[SC_ID_SIZE];
    OK(sc_vault_create_user(vault, admin, S("dev@example.com"), SC_ROLE_DEVELOPER, PASSWORD,
                            strlen(PASSWORD), dev_id, sizeof dev_id));
    OK(sc_vault_create_user(vault, admin, S("vic@example.com"), SC_ROLE_VIEWER, NULL, 0, viewer_id,
                            sizeof viewer_id));
    OK(sc_vault_change_role(vault, admin, viewer_id, strlen(viewer_id), SC_ROLE_DEVELOPER));
    char *users = list(list_users_first, vault, admin);
    CHECK(contains(users, "dev@example.com") && contains(users, "\"role\":\"developer\""));
    CHECK(!contains(users, PASSWORD));
    free(users);
    sc_secret *dev_access = NULL, *dev_refresh = NULL;
    OK(sc_vault_login(vault, tenant, strlen(tenant), S("dev@example.com"), PASSWORD, strlen(PASSWORD),
                      NULL, 0, &dev_access, &dev_refresh));
    sc_caller *dev = NULL;
    OK(sc_vault_authenticate(vault, expose(dev_access, NULL), strlen(expose(dev_access, NULL)), NULL, 0,
                             &dev));
    /* A Developer may not read the audit log (audited). */
    uint64_t count = 0;
    EXPECT(SC_ERR_FORBIDDEN, sc_vault_verify_audit_log(vault, dev, &count));
    /* Disabling stops the user's credentials at once. */
    OK(sc_vault_set_user_enabled(vault, admin, dev_id, strlen(dev_id), false));
    EXPECT(SC_ERR_INVALID_TOKEN, sc_vault_verify_audit_log(vault, dev, &count));
    OK(sc_vault_set_user_enabled(vault, admin, dev_id, strlen(dev_id), true));
    sc_caller_free(dev);
    sc_secret_free(dev_access);
    sc_secret_free(dev_refresh);

    /* API tokens. */
    sc_str all[] = {{S("*")}};
    char token_id[SC_ID_SIZE];
    sc_secret *api = NULL;
    OK(sc_vault_mint_api_token(vault, admin, admin_id, strlen(admin_id), S("ci"), all, 1, 0, token_id,
                               sizeof token_id, &api));
    size_t api_len = 0;
    const char *api_token = expose(api, &api_len);
    CHECK(strncmp(api_token, "scp_", 4) == 0);
    char *tokens = list(list_api_tokens_first, vault, admin);
    CHECK(contains(tokens, token_id) && !contains(tokens, api_token));
    free(tokens);

    if (full) {
        test_threads(vault, api_token, api_len);
        test_fork(vault, api_token, api_len);
        /* A caught panic, and the handle still works after it. */
        fprintf(stderr, "smoke: a deliberate panic follows (Rust's panic hook prints it)\n");
        EXPECT(SC_PANIC, sc_test_panic(vault));
        CHECK(contains(last_error(), "sc_test_panic"));
        sc_caller *c = NULL;
        OK(sc_vault_authenticate(vault, api_token, api_len, NULL, 0, &c));
        sc_caller_free(c);
    }

    /* Leaked-token scan finds it, without echoing it. */
    char text[256];
    snprintf(text, sizeof text, "log line: token=%s done", api_token);
    size_t need = 0;
    char found[512];
    OK(sc_token_scan(text, strlen(text), NULL, 0, found, sizeof found, &need));
    CHECK(contains(found, "\"start\":16") && contains(found, "\"prefix\":\"scp\"") && !contains(found, api_token));

    OK(sc_vault_revoke_api_token(vault, admin, token_id, strlen(token_id)));
    sc_caller *gone = NULL;
    EXPECT(SC_ERR_INVALID_TOKEN, sc_vault_authenticate(vault, api_token, api_len, NULL, 0, &gone));
    CHECK(gone == NULL);
    sc_secret_free(api);

    /* Agent sessions. */
    char agent_id[SC_ID_SIZE];
    sc_secret *agent = NULL;
    OK(sc_vault_start_agent_session(vault, admin, S("ci-bot"), all, 1, 600, agent_id, sizeof agent_id, &agent));
    sc_caller *bot = NULL;
    OK(sc_vault_authenticate(vault, expose(agent, NULL), strlen(expose(agent, NULL)), NULL, 0, &bot));
    sc_caller_free(bot);
    char *agents = list(sc_vault_list_agent_sessions, vault, admin);
    CHECK(contains(agents, agent_id) && contains(agents, "ci-bot"));
    free(agents);
    OK(sc_vault_revoke_agent_session(vault, admin, agent_id, strlen(agent_id)));
    bot = NULL;
    EXPECT(SC_ERR_INVALID_TOKEN, sc_vault_authenticate(vault, expose(agent, NULL), strlen(expose(agent, NULL)), NULL, 0, &bot));
    sc_secret_free(agent);
    OK(sc_vault_set_agent_sessions_enabled(vault, admin, false));
    EXPECT(SC_ERR_FORBIDDEN, sc_vault_start_agent_session(vault, admin, S("ci-bot"), all, 1, 0, agent_id, sizeof agent_id, &agent));
    OK(sc_vault_set_agent_sessions_enabled(vault, admin, true));

    /* App secrets: written, listed by name, injected. */
    uint64_t version = 0;
    OK(sc_vault_set_secret(vault, admin, S("web"), S("DATABASE_URL"), (const uint8_t *)"postgres://db/web", 17, &version));
    CHECK(version == 1);
    OK(sc_vault_set_secret(vault, admin, S("web"), S("API_KEY"), (const uint8_t *)"k-123", 5, NULL));
    need = 0;
    EXPECT(SC_BUFFER_TOO_SMALL, sc_vault_list_secrets(vault, admin, S("web"), NULL, 0, &need));
    char *names = malloc(need);
    OK(sc_vault_list_secrets(vault, admin, S("web"), names, need, &need));
    CHECK(contains(names, "DATABASE_URL") && contains(names, "API_KEY") && !contains(names, "k-123"));
    free(names);
    sc_secret *env = NULL;
    OK(sc_vault_inject(vault, admin, S("web"), &env));
    size_t env_len = 0;
    const char *block = expose(env, &env_len);
    const char expected[] = "API_KEY=k-123\0DATABASE_URL=postgres://db/web\0";
    CHECK(env_len == sizeof expected - 1 && memcmp(block, expected, sizeof expected) == 0);
    sc_secret_free(env);
    OK(sc_vault_delete_secret(vault, admin, S("web"), S("API_KEY")));

    /* Settings secrets. */
    OK(sc_vault_set_setting_secret(vault, admin, S("provider/openai"), (const uint8_t *)"sk-abc", 6));
    bool is_set = false;
    OK(sc_vault_setting_secret_is_set(vault, admin, S("provider/openai"), &is_set));
    CHECK(is_set);
    char *settings = list(sc_vault_list_setting_secrets, vault, admin);
    CHECK(contains(settings, "provider/openai") && !contains(settings, "sk-abc"));
    free(settings);
    /* Only the host's own code (the system caller) reads one back. */
    sc_secret *value = NULL;
    EXPECT(SC_ERR_FORBIDDEN, sc_vault_read_setting_secret(vault, admin, S("provider/openai"), &value));
    CHECK(value == NULL);
    sc_caller *system = NULL;
    OK(sc_caller_system(tenant, strlen(tenant), &system));
    OK(sc_vault_read_setting_secret(vault, system, S("provider/openai"), &value));
    CHECK(strcmp(expose(value, NULL), "sk-abc") == 0);
    sc_secret_free(value);
    EXPECT(SC_ERR_INVALID_INPUT, sc_caller_user_id(system, id, sizeof id));
    sc_caller_free(system);
    OK(sc_vault_clear_setting_secret(vault, admin, S("provider/openai")));
    OK(sc_vault_setting_secret_is_set(vault, admin, S("provider/openai"), &is_set));
    CHECK(!is_set);

    /* Webhooks: an outbound endpoint, and an inbound GitHub source. */
    char ep[SC_ID_SIZE];
    sc_secret *whsec = NULL;
    OK(sc_vault_register_webhook_endpoint(vault, admin, S("https://hooks.example.com/in"), S("deploys"), ep,
                                          sizeof ep, &whsec));
    char sig[SC_SIGNATURE_SIZE];
    int64_t ts = 0;
    size_t sig_len = 0;
    char small_sig[16];
    EXPECT(SC_BUFFER_TOO_SMALL, sc_vault_sign_webhook(vault, admin, ep, strlen(ep), S("msg_1"), (const uint8_t *)"{}", 2,
                                                      &ts, small_sig, sizeof small_sig, &sig_len));
    CHECK(sig_len == SC_SIGNATURE_SIZE && ts == 0);
    OK(sc_vault_sign_webhook(vault, admin, ep, strlen(ep), S("msg_1"), (const uint8_t *)"{}", 2, &ts, sig,
                             sizeof sig, &sig_len));
    char ts_text[32];
    snprintf(ts_text, sizeof ts_text, "%lld", (long long)ts);
    size_t whsec_len = 0;
    const char *whsec_text = expose(whsec, &whsec_len);
    sc_str secrets[] = {{whsec_text, whsec_len}};
    sc_header headers[] = {
        {{S("Webhook-Id")}, {S("msg_1")}},
        {{S("Webhook-Timestamp")}, {ts_text, strlen(ts_text)}},
        {{S("Webhook-Signature")}, {sig, strlen(sig)}},
    };
    OK(sc_webhook_verify(secrets, 1, headers, 3, (const uint8_t *)"{}", 2, ts));
    sc_secret_free(whsec);

    const char *gh = "It's a Secret to Everybody";
    OK(sc_vault_register_webhook_source(vault, admin, S("github"), SC_SOURCE_GITHUB, gh, strlen(gh)));
    const char *body = "{\"action\":\"opened\"}";
    char ghsig[80];
    OK(sc_webhook_sign_github((const uint8_t *)body, strlen(body), (const uint8_t *)gh, strlen(gh), ghsig,
                              sizeof ghsig, &need));
    sc_header gh_headers[] = {
        {{S("X-GitHub-Delivery")}, {S("72d3162e-cc78-11e3-81ab-4c9367dc0958")}},
        {{S("X-Hub-Signature-256")}, {ghsig, strlen(ghsig)}},
    };
    OK(sc_vault_verify_inbound_webhook(vault, tenant, strlen(tenant), S("github"), gh_headers, 2,
                                       (const uint8_t *)body, strlen(body), S("192.0.2.9")));
    EXPECT(SC_ERR_WEBHOOK_REJECTED,
           sc_vault_verify_inbound_webhook(vault, tenant, strlen(tenant), S("github"), gh_headers, 2,
                                           (const uint8_t *)body, strlen(body), NULL, 0));
    EXPECT(SC_ERR_INVALID_INPUT, sc_vault_register_webhook_source(vault, admin, S("crm"), SC_SOURCE_STANDARD,
                                                                  S("my-shared-secret")));

    /* The deploy gate. */
    const char *findings = "[{\"id\":\"CVE-2024-3094\",\"package\":\"xz-utils\",\"severity\":\"CRITICAL\","
                           "\"title\":\"backdoor\"}]";
    uint32_t decision = 0;
    char verdict[512];
    OK(sc_gate_evaluate(SC_GATE_HARDENED, findings, strlen(findings), S("[]"), &decision, verdict,
                        sizeof verdict, &need));
    CHECK(decision == SC_GATE_HOLD && contains(verdict, "\"decision\":\"hold\""));
    OK(sc_gate_evaluate(SC_GATE_STANDARD, findings, strlen(findings), S("[]"), &decision, verdict,
                        sizeof verdict, &need));
    CHECK(decision == SC_GATE_PROCEED);
    OK(sc_vault_evaluate_deploy(vault, admin, S("web-42"), SC_GATE_HARDENED, findings, strlen(findings),
                                S("[]"), &decision));
    CHECK(decision == SC_GATE_HOLD);
    OK(sc_vault_override_gate(vault, admin, S("web-42"), S("reviewed: not reachable")));

    /* OAuth, two phases. */
    if (full) {
        H.vault = vault;
        H.caller = admin;
        test_oauth(vault, admin, admin_id);
        test_bad_input(vault, admin);
    }

    /* Prune, then the audit log: events, chain, checkpoint. */
    uint64_t deleted = 0;
    OK(sc_vault_prune(vault, admin, &deleted));
    char *events = list(audit_events_all, vault, admin);
    CHECK(contains(events, "user.create") && contains(events, "\"denied\""));
    CHECK(!contains(events, PASSWORD) && !contains(events, "hunter2"));
    free(events);
    OK(sc_vault_verify_audit_log(vault, admin, &count));
    CHECK(count > 10);
    char *checkpoint = list(sc_vault_audit_checkpoint, vault, admin);
    CHECK(checkpoint != NULL);
    uint64_t again = 0;
    if (checkpoint) {
        OK(sc_vault_verify_checkpoint(vault, admin, checkpoint, strlen(checkpoint), &again));
    }
    CHECK(again >= count);
    free(checkpoint);

    sc_caller_free(admin);
    sc_secret_free(access);
    sc_vault_free(vault);
}

#ifdef SC_EXPECT_ASAN
/* Part of ASan's public interface: present only when ASan is linked in. */
int __asan_address_is_poisoned(void const volatile *addr);
#endif

/* Tenant data keys in a key store of their own; an erase, refused under
   deletion protection, takes the tenant and its keys, and only it. */
static void test_key_store_and_erase(void) {
    sc_keyring *ring = NULL;
    OK(sc_keyring_generate(&ring));
    sc_vault *vault = NULL;
    EXPECT(SC_ERR_INVALID_INPUT,
           sc_vault_open_with_key_store(S("memory:"), NULL, 0, S("mysql://keys"), ring, 10, &vault));
    CHECK(vault == NULL);
    OK(sc_vault_open_with_key_store(S("memory:"), NULL, 0, S("memory:"), ring, 10, &vault));
    sc_keyring_free(ring);
    const char *tenants[2] = {TENANT, "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"};
    sc_caller *system[2] = {NULL, NULL};
    for (int i = 0; i < 2; i++) {
        char admin_id[SC_ID_SIZE];
        OK(sc_vault_bootstrap(vault, tenants[i], strlen(tenants[i]), S("acme"), S("ada@example.com"),
                              PASSWORD, strlen(PASSWORD), NULL, 0, admin_id, sizeof admin_id));
        OK(sc_caller_system(tenants[i], strlen(tenants[i]), &system[i]));
        uint64_t version = 0;
        OK(sc_vault_set_secret(vault, system[i], S("web"), S("API_KEY"), (const uint8_t *)"k-1", 3, &version));
    }
    OK(sc_vault_set_deletion_protection(vault, system[0], true));
    EXPECT(SC_ERR_DELETION_PROTECTED, sc_vault_erase_tenant(vault, system[0]));
    OK(sc_vault_set_deletion_protection(vault, system[0], false));
    OK(sc_vault_erase_tenant(vault, system[0]));
    EXPECT(SC_ERR_NOT_FOUND, sc_vault_erase_tenant(vault, system[0]));
    sc_secret *env = NULL;
    OK(sc_vault_inject(vault, system[1], S("web"), &env));
    size_t len = 0;
    CHECK(strcmp(expose(env, &len), "API_KEY=k-1") == 0);
    sc_secret_free(env);
    sc_caller_free(system[0]);
    sc_caller_free(system[1]);
    sc_vault_free(vault);
}

int main(void) {
    CHECK(strcmp(sc_version(), SC_VERSION) == 0);
#ifdef SC_EXPECT_ASAN
    {
        /* The redzone past an allocation is poisoned only when ASan is
           really running. */
        char *p = malloc(16);
        CHECK(p != NULL && __asan_address_is_poisoned(p) == 0);
        CHECK(p != NULL && __asan_address_is_poisoned(p + 16) == 1);
        free(p);
    }
#endif
    /* Every _free(NULL) is a no-op. */
    sc_secret_free(NULL);
    sc_keyring_free(NULL);
    sc_vault_free(NULL);
    sc_caller_free(NULL);
    sc_refresh_lease_free(NULL);

    test_keyring();
    test_webhooks_standalone();
    test_key_store_and_erase();

    /* The NULL table needs a live keyring and secret (the vault-bound rows
       run inside the flow, with a live vault, caller and lease). */
    OK(sc_keyring_generate(&H.ring));
    H.secret = NULL;
    {
        uint8_t sealed[64];
        size_t len = 0;
        sc_str ctx[] = {{S("c")}};
        OK(sc_keyring_seal(H.ring, ctx, 1, (const uint8_t *)"v", 1, sealed, sizeof sealed, &len));
        OK(sc_keyring_open(H.ring, ctx, 1, sealed, len, &H.secret));
    }

    char dir[] = "/tmp/sc-smoke-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char url[128];
    snprintf(url, sizeof url, "sqlite:%s/vault.db", dir);
    run_flow(url, NULL, 1);
    /* The file holds the vault: it opens again with the same key only. */
    char path[128];
    snprintf(path, sizeof path, "%s/vault.db", dir);
    sc_keyring *other = NULL;
    OK(sc_keyring_generate(&other));
    sc_vault *v = NULL;
    EXPECT(SC_ERR_WRONG_MASTER_KEY, sc_vault_open(url, strlen(url), NULL, 0, other, 10, &v));
    sc_keyring_free(other);
    unlink(path);
    snprintf(path, sizeof path, "%s/vault.db-wal", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/vault.db-shm", dir);
    unlink(path);
    rmdir(dir);

    run_flow("memory:", NULL, 0);
    const char *pg = getenv("SC_TEST_POSTGRES_URL");
    const char *owner = getenv("SC_TEST_POSTGRES_OWNER_URL");
    if (owner != NULL && owner[0] != '\0') {
        OK(sc_postgres_migrate(owner, strlen(owner), PG_SCHEMA, strlen(PG_SCHEMA)));
    }
    if (pg != NULL && pg[0] != '\0') {
        run_flow(pg, PG_SCHEMA, 0);
        printf("smoke: the flow ran on PostgreSQL too\n");
    }

    sc_secret_free(H.secret);
    sc_keyring_free(H.ring);

    printf("smoke: %d passed, %d failed\n", checks - failures, failures);
    return failures == 0 ? 0 : 1;
}
