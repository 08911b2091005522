/* tests/c/test_resilience.c: circuit breakers, the retry policy, security and tokens through
 * the C ABI, as a C program uses them.
 *
 * Breaker status, isolate, reset, per-operation options; the nested retryPolicy /
 * circuitBreaker / security configuration; token create, verify, list, revoke; security
 * enable, disable, get and check; publish and subscribe refused without a valid token; and
 * every bad argument of these functions, with out-parameters left alone on failure. No token
 * text may appear in any listing or error message. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>

/* ----- helpers ------------------------------------------------------------------------------ */

static char untouched_text[] = "untouched";
#define TEXT_SENTINEL untouched_text
#define SIZE_SENTINEL ((size_t)0xC0FFEE)
#define WAIT_MS 10000

static mc_hub *new_hub(void) {
    mc_hub *hub = NULL;
    CHECK_OK(mc_hub_new(NULL, 0, &hub));
    CHECK(hub != NULL);
    return hub;
}

static mc_status config_set(const mc_hub *hub, const char *json) { return mc_config_set(hub, json, strlen(json)); }

static char *config_get(const mc_hub *hub) {
    char *json = NULL;
    CHECK_OK(mc_config_get(hub, &json));
    return json;
}

static char *breakers(const mc_hub *hub, const char *pattern) {
    char *json = NULL;
    CHECK_OK(mc_breaker_status(hub, pattern, &json));
    return json;
}

/* Creates a token from a request and copies its text into `token` (size 128). */
static mc_status create_token(const mc_hub *hub, const char *request, char *token, char **out_json) {
    char *json = NULL;
    mc_status s = mc_token_create(hub, request, strlen(request), &json);
    if (s != MC_STATUS_OK) return s;
    const char *start = strstr(json, "\"token\":\"");
    CHECK(start != NULL);
    if (start != NULL) {
        start += strlen("\"token\":\"");
        const char *end = strchr(start, '"');
        size_t n = end ? (size_t)(end - start) : 0;
        CHECK(n > 0 && n < 128);
        memcpy(token, start, n);
        token[n] = '\0';
    }
    if (out_json) *out_json = json;
    else mc_string_free(json);
    return s;
}

/* The token's secret part (after "mct_"): what must never show up anywhere. */
static const char *secret_of(const char *token) { return token + 4; }

static void check_last_error_hides(const char *token) {
    char *err = NULL;
    CHECK_OK(mc_last_error(&err));
    CHECK(err != NULL);
    if (err) CHECK_NOT_CONTAINS(err, secret_of(token));
    mc_string_free(err);
}

/* ----- circuit breakers --------------------------------------------------------------------- */

static void breaker_status_lists_isolated_breakers_and_reset_closes_them(void) {
    mc_hub *hub = new_hub();
    char *json = breakers(hub, NULL);
    CHECK(json && strcmp(json, "[]") == 0);
    mc_string_free(json);

    CHECK_OK(mc_breaker_isolate(hub, "ExternalService.ProcessData"));
    CHECK_OK(mc_breaker_isolate(hub, "LabRunner.ExecuteStep"));
    json = breakers(hub, "external*");
    CHECK_CONTAINS(json, "\"operation\":\"ExternalService.ProcessData\"");
    CHECK_CONTAINS(json, "\"state\":\"Isolated\"");
    CHECK_CONTAINS(json, "\"successRate\":100.0");
    CHECK_NOT_CONTAINS(json, "LabRunner");
    mc_string_free(json);

    size_t count = SIZE_SENTINEL;
    CHECK_OK(mc_breaker_reset(hub, "EXTERNALSERVICE.PROCESSDATA", &count));
    CHECK(count == 1);
    json = breakers(hub, "ExternalService.ProcessData");
    CHECK_CONTAINS(json, "\"state\":\"Closed\"");
    mc_string_free(json);

    CHECK_OK(mc_breaker_reset(hub, NULL, &count));
    CHECK(count == 2);
    CHECK_OK(mc_breaker_reset(hub, "Nothing*", NULL));
    mc_hub_free(hub);
}

static void per_operation_options_override_the_defaults_until_cleared(void) {
    mc_hub *hub = new_hub();
    const char *opts = "{\"failureThreshold\":20,\"halfOpenProbes\":2}";
    CHECK_OK(mc_breaker_configure(hub, "Svc.Op", opts, strlen(opts)));
    char *json = breakers(hub, "Svc.Op");
    CHECK_CONTAINS(json, "\"customOptions\":true");
    CHECK_CONTAINS(json, "\"failureThreshold\":20");
    CHECK_CONTAINS(json, "\"halfOpenProbes\":2");
    CHECK_CONTAINS(json, "\"recoveryTimeoutMs\":60000");
    mc_string_free(json);
    CHECK_OK(mc_breaker_configure(hub, "svc.op", NULL, 0));
    json = breakers(hub, "Svc.Op");
    CHECK_CONTAINS(json, "\"customOptions\":false");
    CHECK_CONTAINS(json, "\"failureThreshold\":5");
    mc_string_free(json);
    mc_hub_free(hub);
}

static void configuration_carries_retry_policy_breaker_defaults_and_security(void) {
    mc_hub *hub = new_hub();
    char *json = config_get(hub);
    CHECK_CONTAINS(json, "\"retryPolicy\":{\"maxRetries\":3,\"retryDelayMs\":1000,\"backoffMultiplier\":2.0");
    CHECK_CONTAINS(json, "\"circuitBreaker\":{\"failureThreshold\":5,");
    CHECK_CONTAINS(json, "\"security\":{\"enabled\":false,\"requireAuthentication\":false");
    mc_string_free(json);

    CHECK_OK(config_set(hub, "{\"RetryPolicy\":{\"MaxRetries\":5,\"RetryDelayMs\":500,\"BackoffMultiplier\":1.5},"
                             "\"CircuitBreaker\":{\"FailureThreshold\":10,\"RecoveryTimeoutMs\":30000}}"));
    json = config_get(hub);
    CHECK_CONTAINS(json, "\"maxRetries\":5,\"retryDelayMs\":500,\"backoffMultiplier\":1.5");
    CHECK_CONTAINS(json, "\"failureThreshold\":10");
    CHECK_CONTAINS(json, "\"recoveryTimeoutMs\":30000");
    mc_string_free(json);

    CHECK_STATUS(config_set(hub, "{\"maxEventHistory\":7,\"retryPolicy\":{\"maxRetries\":1000}}"),
                 MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("maxRetries");
    CHECK_STATUS(config_set(hub, "{\"circuitBreaker\":{\"failureRatio\":0}}"), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("failureRatio");
    CHECK_STATUS(config_set(hub, "{\"retryPolicy\":[1]}"), MC_STATUS_INVALID_ARGUMENT);
    json = config_get(hub);
    CHECK_CONTAINS(json, "\"maxEventHistory\":1000");
    CHECK_CONTAINS(json, "\"maxRetries\":5");
    mc_string_free(json);

    mc_hub *configured = NULL;
    const char *initial = "{\"security\":{\"requireAuthentication\":true}}";
    CHECK_OK(mc_hub_new(initial, strlen(initial), &configured));
    char *sec = NULL;
    CHECK_OK(mc_security_get(configured, &sec));
    CHECK_CONTAINS(sec, "\"enabled\":true,\"requireAuthentication\":true");
    mc_string_free(sec);
    mc_hub_free(configured);
    mc_hub_free(hub);
}

/* ----- tokens and security ------------------------------------------------------------------ */

static void tokens_are_shown_once_listed_without_secret_and_revoked(void) {
    mc_hub *hub = new_hub();
    char token[128];
    char *created = NULL;
    CHECK_OK(create_token(hub,
                          "{\"module\":\"LabRunner\",\"user\":\"SystemAccount\",\"scopes\":[\"api:call\","
                          "\"events:publish\"],\"expirationMinutes\":120}",
                          token, &created));
    CHECK(strncmp(token, "mct_", 4) == 0 && strlen(token) == 47);
    CHECK_CONTAINS(created, "\"module\":\"LabRunner\"");
    CHECK_CONTAINS(created, "\"scopes\":[\"api:call\",\"events:publish\"]");
    CHECK_CONTAINS(created, "\"tokenId\":\"");
    mc_string_free(created);

    char *info = NULL;
    CHECK_OK(mc_token_verify(hub, token, &info));
    CHECK_CONTAINS(info, "\"user\":\"SystemAccount\"");
    CHECK_NOT_CONTAINS(info, secret_of(token));
    mc_string_free(info);
    CHECK_OK(mc_token_verify(hub, token, NULL));

    char *list = NULL;
    CHECK_OK(mc_token_list(hub, "lab*", &list));
    CHECK_CONTAINS(list, "\"module\":\"LabRunner\"");
    CHECK_NOT_CONTAINS(list, secret_of(token));
    mc_string_free(list);

    size_t n = SIZE_SENTINEL;
    CHECK_OK(mc_token_revoke(hub, "LabRunner", NULL, &n));
    CHECK(n == 1);
    info = TEXT_SENTINEL;
    CHECK_STATUS(mc_token_verify(hub, token, &info), MC_STATUS_AUTHENTICATION_FAILED);
    CHECK(info == TEXT_SENTINEL);
    CHECK_LAST_ERROR_CONTAINS("unknown, expired or revoked");
    check_last_error_hides(token);

    /* A scope is held to what names may be: no control characters (escaped in JSON). */
    const char *tabbed = "{\"module\":\"M\",\"scopes\":[\"events:publish:x\\ty\"]}";
    created = TEXT_SENTINEL;
    CHECK_STATUS(mc_token_create(hub, tabbed, strlen(tabbed), &created), MC_STATUS_INVALID_ARGUMENT);
    CHECK(created == TEXT_SENTINEL);
    CHECK_LAST_ERROR_CONTAINS("invalid scope 'events:publish:x\\ty'");
    mc_hub_free(hub);
}

static void revoke_by_id_and_unknown_ids(void) {
    mc_hub *hub = new_hub();
    char token[128];
    char *created = NULL;
    CHECK_OK(create_token(hub, "{\"module\":\"A\",\"scopes\":[\"api:call\"]}", token, &created));
    const char *id = strstr(created, "\"tokenId\":\"");
    char token_id[64] = {0};
    if (id) memcpy(token_id, id + strlen("\"tokenId\":\""), 36);
    mc_string_free(created);
    size_t n = SIZE_SENTINEL;
    CHECK_STATUS(mc_token_revoke(hub, NULL, "00000000-0000-0000-0000-000000000000", &n), MC_STATUS_TOKEN_NOT_FOUND);
    CHECK(n == SIZE_SENTINEL);
    CHECK_OK(mc_token_revoke(hub, NULL, token_id, &n));
    CHECK(n == 1);
    CHECK_STATUS(mc_token_verify(hub, token, NULL), MC_STATUS_AUTHENTICATION_FAILED);
    mc_hub_free(hub);
}

static void security_check_enforces_scopes_modules_and_requirement(void) {
    mc_hub *hub = new_hub();
    char token[128];
    CHECK_OK(create_token(hub, "{\"module\":\"LabRunner\",\"scopes\":[\"api:call:LabRunner.*\"]}", token, NULL));
    /* Off: everything passes. */
    CHECK_OK(mc_security_check(hub, NULL, "api:call", "Config.Update", NULL));
    const char *settings = "{\"requireAuthentication\":true,\"allowedModules\":[\"LabRunner\",\"BackupManager\"]}";
    CHECK_OK(mc_security_enable(hub, settings, strlen(settings)));
    CHECK_STATUS(mc_security_check(hub, NULL, "api:call", "LabRunner.ExecuteStep", NULL), MC_STATUS_AUTHENTICATION_FAILED);
    CHECK_OK(mc_security_check(hub, token, "api:call", "labrunner.executestep", NULL));
    CHECK_STATUS(mc_security_check(hub, token, "api:call", "Config.Update", NULL), MC_STATUS_AUTHORIZATION_FAILED);
    check_last_error_hides(token);
    CHECK_STATUS(mc_security_check(hub, token, "events:publish", "X", NULL), MC_STATUS_AUTHORIZATION_FAILED);
    /* Module names may contain dots: LabRunner.* is not module LabRunner.Admin. */
    CHECK_STATUS(mc_security_check(hub, token, "api:call", "LabRunner.Admin.Wipe", NULL), MC_STATUS_AUTHORIZATION_FAILED);
    CHECK_STATUS(mc_security_check(hub, "mct_guess", "api:call", "LabRunner.X", NULL), MC_STATUS_AUTHENTICATION_FAILED);

    char other[128];
    const char *outsider = "{\"module\":\"Intruder\",\"scopes\":[\"api:call\"]}";
    char *out = TEXT_SENTINEL;
    CHECK_STATUS(mc_token_create(hub, outsider, strlen(outsider), &out), MC_STATUS_MODULE_NOT_ALLOWED);
    CHECK(out == TEXT_SENTINEL);
    CHECK_OK(create_token(hub, "{\"module\":\"BackupManager\",\"scopes\":[\"messages:publish\"]}", other, NULL));

    char *sec = NULL;
    CHECK_OK(mc_security_get(hub, &sec));
    CHECK_CONTAINS(sec, "\"allowedModules\":[\"LabRunner\",\"BackupManager\"]");
    CHECK_CONTAINS(sec, "\"activeTokens\":2");
    CHECK_CONTAINS(sec, "\"authorizationFailures\":3"); /* a refused token creation is not a check */
    mc_string_free(sec);

    CHECK_OK(mc_security_disable(hub));
    CHECK_OK(mc_security_check(hub, NULL, "api:call", "Config.Update", NULL));
    mc_hub_free(hub);
}

static void publish_and_subscribe_need_a_valid_token_when_required(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Configuration", NULL, 0));
    const char *settings = "{\"requireAuthentication\":true}";
    CHECK_OK(mc_security_enable(hub, settings, strlen(settings)));
    char token[128];
    CHECK_OK(create_token(hub, "{\"module\":\"ConfigurationCore\",\"scopes\":[\"messages:publish\",\"messages:subscribe\"]}",
                          token, NULL));

    mc_id sentinel, id;
    memset(&sentinel, 0xAB, sizeof sentinel);
    id = sentinel;
    const char *bare = "{\"channel\":\"Configuration\",\"messageType\":\"Changed\"}";
    CHECK_STATUS(mc_publish(hub, bare, strlen(bare), &id), MC_STATUS_AUTHENTICATION_FAILED);
    CHECK(memcmp(&id, &sentinel, sizeof id) == 0);
    const char *bare_sub = "{\"channel\":\"Configuration\"}";
    mc_id refused = sentinel;
    CHECK_STATUS(mc_subscribe_pull(hub, bare_sub, strlen(bare_sub), NULL, NULL, &refused), MC_STATUS_AUTHENTICATION_FAILED);
    CHECK(memcmp(&refused, &sentinel, sizeof refused) == 0);

    char json[512];
    snprintf(json, sizeof json, "{\"channel\":\"Configuration\",\"authenticationToken\":\"%s\"}", token);
    mc_id sub;
    CHECK_OK(mc_subscribe_pull(hub, json, strlen(json), NULL, NULL, &sub));
    snprintf(json, sizeof json,
             "{\"channel\":\"Configuration\",\"messageType\":\"Changed\",\"sourceModule\":\"ConfigurationCore\","
             "\"authenticationToken\":\"%s\",\"data\":{\"MaxJobs\":10}}",
             token);
    CHECK_OK(mc_publish(hub, json, strlen(json), &id));
    char *batch = NULL;
    size_t len = 0;
    CHECK_OK(mc_subscription_take(hub, sub, 10, 1000, &batch, &len));
    CHECK_CONTAINS(batch, "\"MaxJobs\":10");
    CHECK_NOT_CONTAINS(batch, secret_of(token));
    CHECK_NOT_CONTAINS(batch, "authenticationToken");
    mc_string_free(batch);

    snprintf(json, sizeof json,
             "{\"channel\":\"Configuration\",\"messageType\":\"Changed\",\"sourceModule\":\"LabRunner\","
             "\"authenticationToken\":\"%s\"}",
             token);
    CHECK_STATUS(mc_publish(hub, json, strlen(json), &id), MC_STATUS_AUTHORIZATION_FAILED);
    CHECK_LAST_ERROR_CONTAINS("claims to come from module 'LabRunner'");
    check_last_error_hides(token);

    const char *event = "{\"name\":\"ModuleInitialized\"}";
    CHECK_STATUS(mc_event_publish(hub, event, strlen(event), &id), MC_STATUS_AUTHENTICATION_FAILED);
    mc_hub_free(hub);
}


/* ----- API calls through the security, breaker and retry stages ------------------------------ */

typedef struct {
    atomic_int calls;
    int fail_first;       /* how many calls fail */
    mc_status failure;    /* with this status */
    atomic_uint last_attempt;
} flaky_state;

static uint32_t flaky_handler(void *user_data, mc_call call) {
    flaky_state *f = user_data;
    int n = atomic_fetch_add(&f->calls, 1);
    uint32_t attempt = 99;
    if (mc_api_call_attempt(call, &attempt) == MC_STATUS_OK) atomic_store(&f->last_attempt, attempt);
    if (n < f->fail_first) {
        mc_api_call_set_error(call, f->failure, "the database is busy");
        return f->failure;
    }
    const char *ok = "\"ok\"";
    return mc_api_call_set_result(call, ok, strlen(ok));
}

static mc_status invoke_text(mc_hub *hub, const char *request, char **out) {
    size_t len = 0;
    return mc_api_invoke(hub, request, strlen(request), out, &len);
}

static mc_hub *api_hub(flaky_state *f) {
    mc_hub *hub = NULL;
    /* No real waiting between retries in tests: a zero delay. */
    const char *config = "{\"retryPolicy\":{\"retryDelayMs\":0}}";
    CHECK_OK(mc_hub_new(config, strlen(config), &hub));
    const char *def = "{\"module\":\"Svc\",\"operation\":\"Op\"}";
    CHECK_OK(mc_api_register(hub, def, strlen(def), flaky_handler, NULL, f, 0));
    return hub;
}

static void an_unavailable_handler_is_retried_until_it_succeeds(void) {
    flaky_state f = {0, 2, MC_STATUS_UNAVAILABLE, 0};
    mc_hub *hub = api_hub(&f);
    char *out = NULL;
    CHECK_OK(invoke_text(hub, "{\"module\":\"Svc\",\"operation\":\"Op\",\"retryAttempts\":3}", &out));
    CHECK(out && strcmp(out, "\"ok\"") == 0);
    mc_string_free(out);
    CHECK(atomic_load(&f.calls) == 3);
    CHECK(atomic_load(&f.last_attempt) == 2);
    char *list = NULL;
    CHECK_OK(mc_api_list(hub, NULL, NULL, &list));
    CHECK_CONTAINS(list, "\"attempts\":3,\"retries\":2");
    mc_string_free(list);
    mc_hub_free(hub);
}

static void a_handler_failure_is_not_retried_and_opens_the_breaker(void) {
    flaky_state f = {0, 1000, MC_STATUS_HANDLER_FAILED, 0};
    mc_hub *hub = api_hub(&f);
    char *out = TEXT_SENTINEL;
    for (int i = 0; i < 5; i++) {
        CHECK_STATUS(invoke_text(hub, "{\"module\":\"Svc\",\"operation\":\"Op\",\"retryAttempts\":3}", &out),
                     MC_STATUS_HANDLER_FAILED);
    }
    CHECK(atomic_load(&f.calls) == 5);
    CHECK_STATUS(invoke_text(hub, "{\"module\":\"Svc\",\"operation\":\"Op\"}", &out), MC_STATUS_CIRCUIT_OPEN);
    CHECK_LAST_ERROR_CONTAINS("lets a trial call through at");
    CHECK(atomic_load(&f.calls) == 5); /* failed fast: the handler did not run */
    CHECK(out == TEXT_SENTINEL);
    char *json = breakers(hub, "Svc.Op");
    CHECK_CONTAINS(json, "\"state\":\"Open\"");
    CHECK_CONTAINS(json, "\"lastError\":\"the database is busy\"");
    mc_string_free(json);
    /* A call may opt out of the breaker; a reset closes it. */
    CHECK_STATUS(invoke_text(hub, "{\"module\":\"Svc\",\"operation\":\"Op\",\"circuitBreaker\":false}", &out),
                 MC_STATUS_HANDLER_FAILED);
    CHECK(atomic_load(&f.calls) == 6);
    CHECK_OK(mc_breaker_reset(hub, "Svc.Op", NULL));
    CHECK_STATUS(invoke_text(hub, "{\"module\":\"Svc\",\"operation\":\"Op\"}", &out), MC_STATUS_HANDLER_FAILED);
    CHECK(atomic_load(&f.calls) == 7);
    mc_hub_free(hub);
}

static void api_calls_need_a_token_with_the_scope_when_required(void) {
    flaky_state f = {0, 0, MC_STATUS_OK, 0};
    mc_hub *hub = api_hub(&f);
    const char *settings = "{\"requireAuthentication\":true}";
    CHECK_OK(mc_security_enable(hub, settings, strlen(settings)));
    char token[128], narrow[128];
    CHECK_OK(create_token(hub, "{\"module\":\"LabRunner\",\"scopes\":[\"api:call:Svc.*\"]}", token, NULL));
    CHECK_OK(create_token(hub, "{\"module\":\"LabRunner\",\"scopes\":[\"api:call:Other.*\"]}", narrow, NULL));
    char *out = TEXT_SENTINEL;
    CHECK_STATUS(invoke_text(hub, "{\"module\":\"Svc\",\"operation\":\"Op\"}", &out), MC_STATUS_AUTHENTICATION_FAILED);
    char req[512];
    snprintf(req, sizeof req, "{\"module\":\"Svc\",\"operation\":\"Op\",\"authenticationToken\":\"%s\"}", narrow);
    CHECK_STATUS(invoke_text(hub, req, &out), MC_STATUS_AUTHORIZATION_FAILED);
    check_last_error_hides(narrow);
    char *details = NULL;
    CHECK_OK(mc_api_error_details(&details));
    CHECK_CONTAINS(details, "\"category\":\"Authorization\"");
    CHECK_NOT_CONTAINS(details, secret_of(narrow));
    mc_string_free(details);
    CHECK(out == TEXT_SENTINEL);
    CHECK(atomic_load(&f.calls) == 0);
    snprintf(req, sizeof req, "{\"module\":\"Svc\",\"operation\":\"Op\",\"authenticationToken\":\"%s\"}", token);
    CHECK_OK(invoke_text(hub, req, &out));
    mc_string_free(out);
    CHECK(atomic_load(&f.calls) == 1);

    /* The check comes before the lookup: an unregistered API is only "not found" to a token
     * allowed to call that name. */
    out = TEXT_SENTINEL;
    CHECK_STATUS(invoke_text(hub, "{\"module\":\"Svc\",\"operation\":\"Nope\"}", &out),
                 MC_STATUS_AUTHENTICATION_FAILED);
    snprintf(req, sizeof req, "{\"module\":\"Svc\",\"operation\":\"Nope\",\"authenticationToken\":\"%s\"}", narrow);
    CHECK_STATUS(invoke_text(hub, req, &out), MC_STATUS_AUTHORIZATION_FAILED);
    snprintf(req, sizeof req, "{\"module\":\"Svc\",\"operation\":\"Nope\",\"authenticationToken\":\"%s\"}", token);
    CHECK_STATUS(invoke_text(hub, req, &out), MC_STATUS_API_NOT_FOUND);
    CHECK(out == TEXT_SENTINEL);

    /* So does checking parameters without a call: no report without the right token. */
    const char *bare = "{\"module\":\"Svc\",\"operation\":\"Op\"}";
    CHECK_STATUS(mc_api_validate(hub, bare, strlen(bare), &out), MC_STATUS_AUTHENTICATION_FAILED);
    snprintf(req, sizeof req, "{\"module\":\"Svc\",\"operation\":\"Op\",\"authenticationToken\":\"%s\"}", narrow);
    CHECK_STATUS(mc_api_validate(hub, req, strlen(req), &out), MC_STATUS_AUTHORIZATION_FAILED);
    CHECK(out == TEXT_SENTINEL);
    snprintf(req, sizeof req, "{\"module\":\"Svc\",\"operation\":\"Op\",\"authenticationToken\":\"%s\"}", token);
    CHECK_OK(mc_api_validate(hub, req, strlen(req), &out));
    CHECK_CONTAINS(out, "\"valid\":true");
    mc_string_free(out);
    mc_hub_free(hub);
}

/* ----- stopping a call while it waits to retry ------------------------------------------------- */

typedef struct {
    mc_hub *hub;
    uint32_t cancel; /* the flag mc_api_invoke_cancellable reads */
    atomic_int status;
    const char *request; /* NULL: Svc.Op with 3 retries */
} cancellable_caller;

static void *invoke_cancellable(void *arg) {
    cancellable_caller *c = arg;
    const char *req = c->request ? c->request : "{\"module\":\"Svc\",\"operation\":\"Op\",\"retryAttempts\":3}";
    char *out = NULL;
    mc_status s = mc_api_invoke_cancellable(c->hub, req, strlen(req), &c->cancel, &out, NULL);
    mc_string_free(out);
    atomic_store(&c->status, (int)s);
    return NULL;
}

/* Starts c's call on a thread, waits for Svc.Op's first attempt (f), then sets c's flag and wakes
 * the waits. Returns whether the call then ended within WAIT_MS (its thread joined); a call still
 * waiting is left behind, with its hub, rather than hang the run. */
static bool call_then_cancel(cancellable_caller *c, flaky_state *f) {
    atomic_init(&c->status, -1);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, invoke_cancellable, c) == 0);
    WAIT_UNTIL(atomic_load(&f->calls) == 1, WAIT_MS);
    __atomic_store_n(&c->cancel, 1, __ATOMIC_RELEASE);
    CHECK_OK(mc_api_wake_cancelled(c->hub));
    /* The delay is ten minutes: returning before WAIT_MS means the cancel ended the wait. */
    WAIT_UNTIL(atomic_load(&c->status) != -1, WAIT_MS);
    if (atomic_load(&c->status) == -1) {
        pthread_detach(thread);
        return false;
    }
    pthread_join(thread, NULL);
    return true;
}

/* A hub whose Svc.Op always fails as unavailable, with ten minutes before each retry: only a
 * cancel can end the wait in time. */
static mc_hub *hub_with_ten_minute_retries(flaky_state *f) {
    mc_hub *hub = NULL;
    const char *config = "{\"retryPolicy\":{\"retryDelayMs\":600000,\"maxDelayMs\":600000,\"jitter\":false}}";
    CHECK_OK(mc_hub_new(config, strlen(config), &hub));
    const char *def = "{\"module\":\"Svc\",\"operation\":\"Op\"}";
    CHECK_OK(mc_api_register(hub, def, strlen(def), flaky_handler, NULL, f, 0));
    return hub;
}

static void a_cancelled_call_stops_waiting_to_retry_and_makes_no_further_attempt(void) {
    flaky_state f = {0, 1000, MC_STATUS_UNAVAILABLE, 0};
    mc_hub *hub = hub_with_ten_minute_retries(&f);
    cancellable_caller c = {.hub = hub, .cancel = 0};
    bool ended = call_then_cancel(&c, &f);
    CHECK(atomic_load(&c.status) == (int)MC_STATUS_CANCELLED);
    if (!ended) return;
    CHECK(atomic_load(&f.calls) == 1);
    char *list = NULL;
    CHECK_OK(mc_api_list(hub, NULL, NULL, &list));
    CHECK_CONTAINS(list, "\"attempts\":1,\"retries\":0"); /* only the attempt that ran */
    mc_string_free(list);
    /* A NULL flag is a plain call; a misaligned one is refused. */
    char *out = TEXT_SENTINEL;
    const char *once = "{\"module\":\"Svc\",\"operation\":\"Op\",\"retryAttempts\":0}";
    CHECK_STATUS(mc_api_invoke_cancellable(hub, once, strlen(once), NULL, &out, NULL), MC_STATUS_UNAVAILABLE);
    uint32_t flags[2] = {0, 0};
    const uint32_t *misaligned = (const uint32_t *)((const char *)flags + 1);
    CHECK_STATUS(mc_api_invoke_cancellable(hub, once, strlen(once), misaligned, &out, NULL), MC_STATUS_INVALID_ARGUMENT);
    CHECK(out == TEXT_SENTINEL);
    CHECK_STATUS(mc_api_wake_cancelled(NULL), MC_STATUS_NULL_ARGUMENT);
    mc_hub_free(hub);
}

/* A handler that calls Svc.Op through mc_api_invoke_cancellable with no flag of its own. */
typedef struct {
    mc_hub *hub;
    atomic_int inner;
} nested_caller;

static uint32_t invokes_op_with_a_null_flag(void *user_data, mc_call call) {
    nested_caller *n = user_data;
    const char *req = "{\"module\":\"Svc\",\"operation\":\"Op\",\"retryAttempts\":3}";
    char *out = NULL;
    mc_status s = mc_api_invoke_cancellable(n->hub, req, strlen(req), NULL, &out, NULL);
    mc_string_free(out);
    atomic_store(&n->inner, (int)s);
    if (s != MC_STATUS_OK) {
        mc_api_call_set_error(call, s, "the nested call failed");
        return s;
    }
    return mc_api_call_set_result(call, "1", 1);
}

static void a_nested_call_with_a_null_flag_stops_on_the_outer_calls_flag(void) {
    flaky_state f = {0, 1000, MC_STATUS_UNAVAILABLE, 0};
    /* Only the outer call's flag can end the nested call's wait. */
    mc_hub *hub = hub_with_ten_minute_retries(&f);
    nested_caller n = {.hub = hub};
    atomic_init(&n.inner, -1);
    const char *outer = "{\"module\":\"Svc\",\"operation\":\"Outer\"}";
    CHECK_OK(mc_api_register(hub, outer, strlen(outer), invokes_op_with_a_null_flag, NULL, &n, 0));
    cancellable_caller c = {.hub = hub, .cancel = 0, .request = "{\"module\":\"Svc\",\"operation\":\"Outer\",\"retryAttempts\":0}"};
    bool ended = call_then_cancel(&c, &f);
    CHECK(atomic_load(&n.inner) == (int)MC_STATUS_CANCELLED);
    if (!ended) return;
    CHECK(atomic_load(&f.calls) == 1);
    mc_hub_free(hub);
}

static void bad_retry_and_attempt_arguments(void) {
    flaky_state f = {0, 0, MC_STATUS_OK, 0};
    mc_hub *hub = api_hub(&f);
    char *out = TEXT_SENTINEL;
    CHECK_STATUS(invoke_text(hub, "{\"module\":\"Svc\",\"operation\":\"Op\",\"retryAttempts\":101}", &out),
                 MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("retryAttempts");
    CHECK_STATUS(invoke_text(hub, "{\"module\":\"Svc\",\"operation\":\"Op\",\"circuitBreaker\":1}", &out),
                 MC_STATUS_INVALID_ARGUMENT);
    CHECK(out == TEXT_SENTINEL);
    uint32_t attempt = 77;
    CHECK_STATUS(mc_api_call_attempt(123456789, &attempt), MC_STATUS_CALL_NOT_ACTIVE);
    CHECK(attempt == 77);
    CHECK(atomic_load(&f.calls) == 0);
    mc_hub_free(hub);
}

/* ----- bad arguments ------------------------------------------------------------------------ */

static void bad_arguments_get_their_status_and_leave_out_parameters_alone(void) {
    mc_hub *hub = new_hub();
    char *text = TEXT_SENTINEL;
    size_t n = SIZE_SENTINEL;

    CHECK_STATUS(mc_breaker_status(NULL, NULL, &text), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_breaker_status(hub, NULL, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_breaker_status(hub, "[a", &text), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_breaker_status(hub, "\xff", &text), MC_STATUS_INVALID_UTF8);
    CHECK(text == TEXT_SENTINEL);
    CHECK_STATUS(mc_breaker_reset(NULL, NULL, &n), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_breaker_reset(hub, "No.Such", &n), MC_STATUS_BREAKER_NOT_FOUND);
    CHECK_LAST_ERROR_CONTAINS("'No.Such'");
    CHECK(n == SIZE_SENTINEL);
    CHECK_STATUS(mc_breaker_isolate(hub, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_breaker_isolate(hub, "Svc.*"), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_breaker_isolate(hub, ""), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_breaker_configure(hub, "A.B", "{\"failureThreshold\":0}", 22), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_breaker_configure(hub, "A.B", "{nope", 5), MC_STATUS_INVALID_JSON);
    CHECK_STATUS(mc_breaker_configure(hub, "A.B", "{\"bogus\":1}", 11), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_breaker_configure(hub, NULL, NULL, 0), MC_STATUS_NULL_ARGUMENT);
    char *json = breakers(hub, NULL);
    CHECK(json && strcmp(json, "[]") == 0); /* no failed call created a breaker */
    mc_string_free(json);

    const char *ok = "{\"module\":\"A\",\"scopes\":[\"api:call\"]}";
    CHECK_STATUS(mc_token_create(NULL, ok, strlen(ok), &text), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_token_create(hub, ok, strlen(ok), NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_token_create(hub, NULL, 0, &text), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_token_create(hub, "[1]", 3, &text), MC_STATUS_INVALID_JSON);
    CHECK_STATUS(mc_token_create(hub, "{\"module\":\"A\"}", 14, &text), MC_STATUS_INVALID_JSON);
    const char *bad_scope = "{\"module\":\"A\",\"scopes\":[\"api:invoke\"]}";
    CHECK_STATUS(mc_token_create(hub, bad_scope, strlen(bad_scope), &text), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("api:invoke");
    const char *no_scope = "{\"module\":\"A\",\"scopes\":[]}";
    CHECK_STATUS(mc_token_create(hub, no_scope, strlen(no_scope), &text), MC_STATUS_INVALID_ARGUMENT);
    const char *bad_life = "{\"module\":\"A\",\"scopes\":[\"api:call\"],\"expirationMinutes\":0}";
    CHECK_STATUS(mc_token_create(hub, bad_life, strlen(bad_life), &text), MC_STATUS_INVALID_ARGUMENT);
    const char *bad_module = "{\"module\":\"A*\",\"scopes\":[\"api:call\"]}";
    CHECK_STATUS(mc_token_create(hub, bad_module, strlen(bad_module), &text), MC_STATUS_INVALID_ARGUMENT);
    CHECK(text == TEXT_SENTINEL);

    CHECK_STATUS(mc_token_revoke(hub, NULL, NULL, &n), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_token_revoke(hub, "A", "id", &n), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_token_revoke(hub, "[a", NULL, &n), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_token_revoke(hub, NULL, "not-a-guid", &n), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("invalid token id 'not-a-guid': a token id is a GUID");
    CHECK(n == SIZE_SENTINEL);
    CHECK_STATUS(mc_token_list(hub, NULL, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_token_verify(hub, NULL, &text), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_token_verify(hub, "", &text), MC_STATUS_AUTHENTICATION_FAILED);
    CHECK(text == TEXT_SENTINEL);

    CHECK_STATUS(mc_security_enable(NULL, NULL, 0), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_security_enable(hub, "{\"allowedModules\":5}", 20), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_security_enable(hub, "{\"defaultTokenExpirationMinutes\":0}", 35), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_security_enable(hub, "nope", 4), MC_STATUS_INVALID_JSON);
    CHECK_STATUS(mc_security_disable(NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_security_get(hub, NULL), MC_STATUS_NULL_ARGUMENT);
    char *sec = NULL;
    CHECK_OK(mc_security_get(hub, &sec));
    CHECK_CONTAINS(sec, "\"enabled\":false"); /* failed enables changed nothing */
    mc_string_free(sec);
    CHECK_STATUS(mc_security_check(hub, NULL, "api:fly", "A.B", NULL), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_security_check(hub, NULL, NULL, "A.B", NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_security_check(hub, NULL, "api:call", NULL, NULL), MC_STATUS_NULL_ARGUMENT);

    /* The hub still works. */
    CHECK_OK(mc_breaker_isolate(hub, "Still.Works"));
    mc_hub_free(hub);
}

int main(void) {
    RUN_TEST(breaker_status_lists_isolated_breakers_and_reset_closes_them);
    RUN_TEST(per_operation_options_override_the_defaults_until_cleared);
    RUN_TEST(configuration_carries_retry_policy_breaker_defaults_and_security);
    RUN_TEST(tokens_are_shown_once_listed_without_secret_and_revoked);
    RUN_TEST(revoke_by_id_and_unknown_ids);
    RUN_TEST(security_check_enforces_scopes_modules_and_requirement);
    RUN_TEST(publish_and_subscribe_need_a_valid_token_when_required);
    RUN_TEST(an_unavailable_handler_is_retried_until_it_succeeds);
    RUN_TEST(a_handler_failure_is_not_retried_and_opens_the_breaker);
    RUN_TEST(api_calls_need_a_token_with_the_scope_when_required);
    RUN_TEST(a_cancelled_call_stops_waiting_to_retry_and_makes_no_further_attempt);
    RUN_TEST(a_nested_call_with_a_null_flag_stops_on_the_outer_calls_flag);
    RUN_TEST(bad_retry_and_attempt_arguments);
    RUN_TEST(bad_arguments_get_their_status_and_leave_out_parameters_alone);
    return harness_summary();
}
