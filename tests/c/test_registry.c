/* tests/c/test_registry.c: the API registry through the C ABI, as a C program uses it.
 *
 * A C callback as handler with a JSON schema; invoking with JSON parameters and getting
 * JSON back; validation failures (status, message, details JSON); unknown APIs; timeouts
 * (the caller gets MC_STATUS_TIMEOUT in time while the handler finishes on a worker);
 * native middleware (order, short-circuit, context changes, errors passed on); nested
 * calls and the depth limit; listing, unregistering and release callbacks; and every bad
 * argument. Each test uses its own hub. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>

#define WAIT_MS 10000

static mc_hub *new_hub(void) {
    mc_hub *hub = NULL;
    CHECK_OK(mc_hub_new(NULL, 0, &hub));
    return hub;
}

static mc_status register_api(mc_hub *hub, const char *definition, mc_api_callback cb, void *user_data) {
    return mc_api_register(hub, definition, strlen(definition), cb, NULL, user_data, 0);
}

static mc_status add_middleware(mc_hub *hub, const char *definition, mc_api_callback cb, void *user_data) {
    return mc_middleware_add(hub, definition, strlen(definition), cb, NULL, user_data, 0);
}

/* Invokes; on success *out receives the result (free with mc_string_free). */
static mc_status invoke(mc_hub *hub, const char *request, char **out) {
    size_t len = 0;
    return mc_api_invoke(hub, request, strlen(request), out, &len);
}

/* The call's context as text (static buffer, truncated). */
static const char *context_of(mc_call call) {
    static _Thread_local char buffer[4096];
    char *json = NULL;
    if (mc_api_call_context(call, &json, NULL) != MC_STATUS_OK) return "(no context)";
    snprintf(buffer, sizeof buffer, "%s", json);
    mc_string_free(json);
    return buffer;
}

static mc_status set_result(mc_call call, const char *json) { return mc_api_call_set_result(call, json, strlen(json)); }

/* ----- handlers ------------------------------------------------------------------------------ */

/* Returns {"Success":true,"Context":<the context it got>}; counts its calls in user_data. */
static uint32_t execute_step(void *user_data, mc_call call) {
    atomic_fetch_add((atomic_int *)user_data, 1);
    char result[4200];
    snprintf(result, sizeof result, "{\"Success\":true,\"Context\":%s}", context_of(call));
    return set_result(call, result);
}

static const char *EXECUTE_STEP =
    "{\"module\":\"LabRunner\",\"operation\":\"ExecuteStep\",\"description\":\"Execute a lab automation step\","
    "\"parameters\":{\"StepName\":{\"type\":\"string\",\"required\":true,\"description\":\"Name of the step to execute\"},"
    "\"Parameters\":{\"type\":\"hashtable\",\"required\":false,\"description\":\"Step parameters\"},"
    "\"Mode\":{\"type\":\"string\",\"validateSet\":[\"Quick\",\"Full\"],\"default\":\"Quick\"}}}";

static void invoke_returns_the_handlers_json_with_validated_parameters(void) {
    mc_hub *hub = new_hub();
    atomic_int calls = 0;
    CHECK_OK(register_api(hub, EXECUTE_STEP, execute_step, &calls));
    char *out = NULL;
    CHECK_OK(invoke(hub,
                    "{\"module\":\"labrunner\",\"operation\":\"executestep\",\"parameters\":{\"stepname\":\"DeployVM\","
                    "\"Parameters\":{\"VMName\":\"TestVM\",\"Memory\":\"4GB\"}}}",
                    &out));
    CHECK(atomic_load(&calls) == 1);
    CHECK_CONTAINS(out, "\"Success\":true");
    /* Named as the schema spells them, in schema order, with the default filled in. */
    CHECK_CONTAINS(out, "\"parameters\":{\"StepName\":\"DeployVM\",\"Parameters\":{\"VMName\":\"TestVM\",\"Memory\":\"4GB\"},\"Mode\":\"Quick\"}");
    CHECK_CONTAINS(out, "\"apiKey\":\"LabRunner.ExecuteStep\"");
    CHECK_CONTAINS(out, "\"depth\":1");
    mc_string_free(out);
    mc_hub_free(hub);
}

static uint32_t do_nothing(void *user_data, mc_call call) {
    (void)user_data;
    (void)call;
    return MC_STATUS_OK;
}

static void a_handler_that_sets_no_result_returns_null(void) {
    mc_hub *hub = new_hub();
    const char *def = "{\"module\":\"M\",\"operation\":\"Nothing\"}";
    CHECK_OK(register_api(hub, def, do_nothing, NULL));
    char *out = NULL;
    CHECK_OK(invoke(hub, "{\"module\":\"M\",\"operation\":\"Nothing\"}", &out));
    CHECK(out != NULL && strcmp(out, "null") == 0);
    mc_string_free(out);
    mc_hub_free(hub);
}

/* Its own mc_ call fails (invalid JSON), then it succeeds with a valid result. */
static uint32_t recovers_from_a_bad_result(void *user_data, mc_call call) {
    (void)user_data;
    if (set_result(call, "{not json") != MC_STATUS_INVALID_JSON) return MC_STATUS_HANDLER_FAILED;
    return set_result(call, "1");
}

static void a_successful_call_leaves_no_last_error_behind(void) {
    mc_hub *hub = new_hub();
    const char *def = "{\"module\":\"M\",\"operation\":\"Recover\"}";
    CHECK_OK(register_api(hub, def, recovers_from_a_bad_result, NULL));
    char *out = NULL;
    CHECK_OK(invoke(hub, "{\"module\":\"M\",\"operation\":\"Recover\"}", &out));
    char *err = NULL;
    CHECK_OK(mc_last_error(&err));
    CHECK(err == NULL);
    mc_string_free(out);
    /* A failed mc_api_error_details says why, instead of leaving an older message. */
    CHECK_STATUS(invoke(hub, "{\"module\":\"M\",\"operation\":\"Missing\"}", &out), MC_STATUS_API_NOT_FOUND);
    CHECK_STATUS(mc_api_error_details(NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_OK(mc_last_error(&err));
    CHECK(err != NULL && strstr(err, "out_json") != NULL);
    mc_string_free(err);
    mc_hub_free(hub);
}

static void validation_failure_names_the_parameter_and_the_handler_never_runs(void) {
    mc_hub *hub = new_hub();
    atomic_int calls = 0;
    CHECK_OK(register_api(hub, EXECUTE_STEP, execute_step, &calls));
    char *out = (char *)"untouched";
    CHECK_STATUS(invoke(hub, "{\"module\":\"LabRunner\",\"operation\":\"ExecuteStep\",\"parameters\":{\"Mode\":\"Fast\",\"Bogus\":1}}", &out),
                 MC_STATUS_VALIDATION_FAILED);
    CHECK(strcmp(out, "untouched") == 0);
    CHECK(atomic_load(&calls) == 0);
    CHECK_LAST_ERROR_CONTAINS("mc_api_invoke: invalid parameters for LabRunner.ExecuteStep: StepName: required, but not given (string: Name of the step to execute)");
    char *details = NULL;
    CHECK_OK(mc_api_error_details(&details));
    CHECK_CONTAINS(details, "\"category\":\"Validation\"");
    CHECK_CONTAINS(details, "{\"parameter\":\"StepName\",\"message\":\"StepName: required, but not given");
    CHECK_CONTAINS(details, "{\"parameter\":\"Mode\",\"message\":\"Mode: the string 'Fast' is not one of the allowed values ('Quick', 'Full')\"}");
    CHECK_CONTAINS(details, "{\"parameter\":\"Bogus\",\"message\":\"Bogus: not a parameter of LabRunner.ExecuteStep");
    mc_string_free(details);

    char *report = NULL;
    const char *req = "{\"module\":\"LabRunner\",\"operation\":\"ExecuteStep\",\"parameters\":{\"StepName\":5}}";
    CHECK_OK(mc_api_validate(hub, req, strlen(req), &report));
    CHECK_CONTAINS(report, "\"valid\":false");
    CHECK_CONTAINS(report, "StepName: expected a string, got the number 5");
    mc_string_free(report);
    CHECK(atomic_load(&calls) == 0);
    mc_hub_free(hub);
}

static void an_unknown_api_is_api_not_found(void) {
    mc_hub *hub = new_hub();
    char *out = NULL;
    CHECK_STATUS(invoke(hub, "{\"module\":\"No\",\"operation\":\"Such\"}", &out), MC_STATUS_API_NOT_FOUND);
    CHECK_LAST_ERROR_CONTAINS("API 'No.Such' is not registered");
    char *details = NULL;
    CHECK_OK(mc_api_error_details(&details));
    CHECK_CONTAINS(details, "\"category\":\"NotFound\"");
    mc_string_free(details);
    /* A success clears the details. */
    CHECK_OK(register_api(hub, "{\"module\":\"No\",\"operation\":\"Such\"}", do_nothing, NULL));
    CHECK_OK(invoke(hub, "{\"module\":\"No\",\"operation\":\"Such\"}", &out));
    mc_string_free(out);
    CHECK_OK(mc_api_error_details(&details));
    CHECK(details == NULL);
    char *report = NULL;
    const char *unknown = "{\"module\":\"x\",\"operation\":\"y\"}";
    CHECK_STATUS(mc_api_validate(hub, unknown, strlen(unknown), &report), MC_STATUS_API_NOT_FOUND);
    mc_hub_free(hub);
}

/* ----- timeouts ------------------------------------------------------------------------------ */

typedef struct {
    atomic_int open;
    atomic_int finished;
} gate;

static uint32_t wait_for_gate(void *user_data, mc_call call) {
    gate *g = user_data;
    WAIT_UNTIL(atomic_load(&g->open), 60000);
    atomic_store(&g->finished, 1);
    return set_result(call, "\"late\"");
}

static void a_call_past_its_timeout_returns_timeout_in_time(void) {
    mc_hub *hub = new_hub();
    gate g = {0, 0};
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"Slow\"}", wait_for_gate, &g));
    char *out = (char *)"untouched";
    int64_t start = harness_now_ms();
    /* One attempt: a timeout is retryable, and this test is about the timeout alone. */
    CHECK_STATUS(invoke(hub, "{\"module\":\"M\",\"operation\":\"Slow\",\"timeoutMs\":100,\"retryAttempts\":0}", &out),
                 MC_STATUS_TIMEOUT);
    int64_t took = harness_now_ms() - start;
    CHECK(took >= 100 && took < WAIT_MS);
    CHECK(strcmp(out, "untouched") == 0);
    CHECK_LAST_ERROR_CONTAINS("M.Slow did not complete within its timeout of 100 ms");
    CHECK(atomic_load(&g.finished) == 0);
    atomic_store(&g.open, 1);
    CHECK_EVENTUALLY(atomic_load(&g.finished) == 1, WAIT_MS);
    mc_hub_free(hub);
}

/* A handler that outlives its call's timeout, then uses the hub it was registered on. */
typedef struct {
    mc_hub *hub;
    atomic_int finished;
    atomic_int stats_status;
} late_user;

static uint32_t slow_then_uses_the_hub(void *user_data, mc_call call) {
    late_user *u = user_data;
    for (int i = 0; i < 200; i++) harness_sleep_1ms(); /* well past the 20 ms timeout */
    char *stats = NULL;
    atomic_store(&u->stats_status, (int)mc_bus_stats(u->hub, &stats));
    mc_string_free(stats);
    atomic_store(&u->finished, 1);
    return set_result(call, "\"late\"");
}

static void freeing_the_hub_waits_for_a_handler_its_call_abandoned_at_the_timeout(void) {
    mc_hub *hub = new_hub();
    late_user u = {.hub = hub};
    atomic_init(&u.finished, 0);
    atomic_init(&u.stats_status, -1);
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"Slow\"}", slow_then_uses_the_hub, &u));
    char *out = NULL;
    CHECK_STATUS(invoke(hub, "{\"module\":\"M\",\"operation\":\"Slow\",\"timeoutMs\":20,\"retryAttempts\":0}", &out),
                 MC_STATUS_TIMEOUT);
    mc_hub_free(hub);
    CHECK(atomic_load(&u.finished) == 1);
    CHECK(atomic_load(&u.stats_status) == MC_STATUS_OK);
}

static void the_apis_default_timeout_applies(void) {
    mc_hub *hub = new_hub();
    gate g = {0, 0};
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"Slow\",\"timeoutMs\":50}", wait_for_gate, &g));
    char *out = NULL;
    CHECK_STATUS(invoke(hub, "{\"module\":\"M\",\"operation\":\"Slow\",\"retryAttempts\":0}", &out), MC_STATUS_TIMEOUT);
    atomic_store(&g.open, 1);
    CHECK_EVENTUALLY(atomic_load(&g.finished) == 1, WAIT_MS);
    CHECK_OK(invoke(hub, "{\"module\":\"M\",\"operation\":\"Slow\",\"timeoutMs\":30000}", &out));
    CHECK(out != NULL && strcmp(out, "\"late\"") == 0);
    mc_string_free(out);
    mc_hub_free(hub);
}

/* ----- middleware ---------------------------------------------------------------------------- */

typedef struct {
    char log[512];
} trace;

static void trace_add(trace *t, const char *s) { strncat(t->log, s, sizeof t->log - strlen(t->log) - 1); }

static uint32_t traced_handler(void *user_data, mc_call call) {
    trace_add(user_data, "handler;");
    return set_result(call, "\"done\"");
}

/* Logs around mc_api_next and passes its result and status on; the name comes from the
 * middleware's own context ("tag" is not the name: we read it from a static table). */
typedef struct {
    trace *t;
    const char *name;
} named;

static uint32_t logging_middleware(void *user_data, mc_call call) {
    named *n = user_data;
    char entry[64];
    snprintf(entry, sizeof entry, "%s>;", n->name);
    trace_add(n->t, entry);
    char *result = NULL;
    mc_status s = mc_api_next(call, NULL, 0, &result, NULL);
    snprintf(entry, sizeof entry, "<%s;", n->name);
    trace_add(n->t, entry);
    mc_string_free(result);
    return s;
}

static void middleware_runs_by_priority_outermost_first_ties_in_registration_order(void) {
    mc_hub *hub = new_hub();
    trace t = {{0}};
    named b = {&t, "b20"}, a = {&t, "a10"}, c = {&t, "c20"};
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"Op\"}", traced_handler, &t));
    CHECK_OK(add_middleware(hub, "{\"name\":\"b20\",\"priority\":20}", logging_middleware, &b));
    CHECK_OK(add_middleware(hub, "{\"name\":\"a10\",\"priority\":10}", logging_middleware, &a));
    CHECK_OK(add_middleware(hub, "{\"name\":\"c20\",\"priority\":20}", logging_middleware, &c));
    char *out = NULL;
    CHECK_OK(invoke(hub, "{\"module\":\"M\",\"operation\":\"Op\"}", &out));
    CHECK(out != NULL && strcmp(out, "\"done\"") == 0);
    mc_string_free(out);
    CHECK(strcmp(t.log, "a10>;b20>;c20>;handler;<c20;<b20;<a10;") == 0);
    char *list = NULL;
    CHECK_OK(mc_middleware_list(hub, NULL, &list));
    CHECK(strstr(list, "\"a10\"") < strstr(list, "\"b20\"") && strstr(list, "\"b20\"") < strstr(list, "\"c20\""));
    CHECK_CONTAINS(list, "\"calls\":1");
    mc_string_free(list);
    mc_hub_free(hub);
}

static uint32_t cache_middleware(void *user_data, mc_call call) {
    (void)user_data;
    return set_result(call, "{\"cached\":true}");
}

static void middleware_that_does_not_call_next_short_circuits(void) {
    mc_hub *hub = new_hub();
    trace t = {{0}};
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"Op\"}", traced_handler, &t));
    CHECK_OK(add_middleware(hub, "{\"name\":\"cache\",\"module\":\"m\",\"operation\":\"op\"}", cache_middleware, NULL));
    char *out = NULL;
    CHECK_OK(invoke(hub, "{\"module\":\"M\",\"operation\":\"Op\"}", &out));
    CHECK(out != NULL && strcmp(out, "{\"cached\":true}") == 0);
    mc_string_free(out);
    CHECK(t.log[0] == '\0');
    mc_hub_free(hub);
}

/* Calls an API that does not exist, ignores the failure and succeeds. */
static uint32_t survives_a_failed_nested_call(void *user_data, mc_call call) {
    mc_hub *hub = user_data;
    const char *request = "{\"module\":\"No\",\"operation\":\"Such\"}";
    char *out = NULL;
    if (mc_api_invoke(hub, request, strlen(request), &out, NULL) != MC_STATUS_API_NOT_FOUND) return MC_STATUS_HANDLER_FAILED;
    return set_result(call, "\"fine\"");
}

static void error_details_are_empty_after_a_call_that_succeeded_despite_a_nested_failure(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"Op\"}", survives_a_failed_nested_call, hub));
    char *out = NULL;
    CHECK_OK(invoke(hub, "{\"module\":\"M\",\"operation\":\"Op\"}", &out));
    mc_string_free(out);
    char *details = (char *)"untouched";
    CHECK_OK(mc_api_error_details(&details));
    CHECK(details == NULL);
    mc_hub_free(hub);
}

/* Passes the context it read back to mc_api_next unchanged, as the header allows. */
static uint32_t context_round_trip_middleware(void *user_data, mc_call call) {
    (void)user_data;
    char *context = NULL;
    size_t len = 0;
    mc_status s = mc_api_call_context(call, &context, &len);
    if (s != MC_STATUS_OK) return s;
    char *result = NULL;
    s = mc_api_next(call, context, len, &result, NULL);
    mc_string_free(context);
    mc_string_free(result);
    return s;
}

static void a_middleware_may_pass_the_context_it_read_back_to_next(void) {
    mc_hub *hub = new_hub();
    trace t = {{0}};
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"Op\"}", traced_handler, &t));
    CHECK_OK(add_middleware(hub, "{\"name\":\"roundTrip\"}", context_round_trip_middleware, NULL));
    char *out = NULL;
    CHECK_OK(invoke(hub, "{\"module\":\"M\",\"operation\":\"Op\"}", &out));
    CHECK(out != NULL && strcmp(out, "\"done\"") == 0);
    mc_string_free(out);
    CHECK(strcmp(t.log, "handler;") == 0);
    mc_hub_free(hub);
}

/* Sets metadata and a parameter through the context passed to mc_api_next. */
static uint32_t enriching_middleware(void *user_data, mc_call call) {
    (void)user_data;
    const char *change = "{\"metadata\":{\"RequiresAuth\":true},\"user\":\"alice\",\"parameters\":{\"stepname\":\"FromMiddleware\"}}";
    char *result = NULL;
    mc_status s = mc_api_next(call, change, strlen(change), &result, NULL);
    if (s == MC_STATUS_OK) {
        /* The handler's result passes through unless we set another. */
        mc_string_free(result);
    }
    return s;
}

static void context_changes_by_middleware_reach_validation_and_the_handler(void) {
    mc_hub *hub = new_hub();
    atomic_int calls = 0;
    CHECK_OK(register_api(hub, EXECUTE_STEP, execute_step, &calls));
    CHECK_OK(add_middleware(hub, "{\"name\":\"enrich\"}", enriching_middleware, NULL));
    char *out = NULL;
    CHECK_OK(invoke(hub, "{\"module\":\"LabRunner\",\"operation\":\"ExecuteStep\"}", &out));
    CHECK_CONTAINS(out, "\"user\":\"alice\"");
    CHECK_CONTAINS(out, "\"metadata\":{\"RequiresAuth\":true}");
    CHECK_CONTAINS(out, "\"parameters\":{\"StepName\":\"FromMiddleware\",\"Mode\":\"Quick\"}");
    mc_string_free(out);
    mc_hub_free(hub);
}

static uint32_t auth_middleware(void *user_data, mc_call call) {
    (void)user_data;
    const char *ctx = context_of(call);
    if (strstr(ctx, "\"user\":null") != NULL) {
        mc_api_call_set_error(call, MC_STATUS_AUTHENTICATION_FAILED, "Authentication required");
        return MC_STATUS_AUTHENTICATION_FAILED;
    }
    char *result = NULL;
    mc_status s = mc_api_next(call, NULL, 0, &result, NULL);
    mc_string_free(result);
    return s;
}

static void a_middleware_error_fails_the_call_and_inner_errors_pass_through_unchanged(void) {
    mc_hub *hub = new_hub();
    atomic_int calls = 0;
    CHECK_OK(register_api(hub, EXECUTE_STEP, execute_step, &calls));
    CHECK_OK(add_middleware(hub, "{\"name\":\"auth\",\"priority\":20}", auth_middleware, NULL));
    char *out = NULL;
    CHECK_STATUS(invoke(hub, "{\"module\":\"LabRunner\",\"operation\":\"ExecuteStep\",\"parameters\":{\"StepName\":\"x\"}}", &out),
                 MC_STATUS_AUTHENTICATION_FAILED);
    CHECK_LAST_ERROR_CONTAINS("Authentication required");
    /* With a user, auth calls next; validation then fails inside, and auth returns that
     * status without a message of its own: the validation error arrives unchanged. */
    CHECK_STATUS(invoke(hub, "{\"module\":\"LabRunner\",\"operation\":\"ExecuteStep\",\"user\":\"bob\"}", &out),
                 MC_STATUS_VALIDATION_FAILED);
    CHECK_LAST_ERROR_CONTAINS("StepName: required, but not given");
    char *details = NULL;
    CHECK_OK(mc_api_error_details(&details));
    CHECK_CONTAINS(details, "\"parameter\":\"StepName\"");
    mc_string_free(details);
    CHECK(atomic_load(&calls) == 0);
    mc_hub_free(hub);
}

static uint32_t failing_handler(void *user_data, mc_call call) {
    (void)user_data;
    (void)call;
    return MC_STATUS_INVALID_ARGUMENT; /* not a category, no message */
}

static uint32_t handler_failed_without_message(void *user_data, mc_call call) {
    (void)user_data;
    (void)call;
    return MC_STATUS_HANDLER_FAILED;
}

static void a_handler_failing_without_a_message_is_handler_failed(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"Fail\"}", handler_failed_without_message, NULL));
    char *failed = NULL;
    CHECK_STATUS(invoke(hub, "{\"module\":\"M\",\"operation\":\"Fail\"}", &failed), MC_STATUS_HANDLER_FAILED);
    CHECK_LAST_ERROR_CONTAINS(
        "mc_api_invoke: the handler of M.Fail failed with status 26 (MC_STATUS_HANDLER_FAILED) and set no message "
        "(mc_api_call_set_error)");
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"Bad\"}", failing_handler, NULL));
    char *out = NULL;
    CHECK_STATUS(invoke(hub, "{\"module\":\"M\",\"operation\":\"Bad\"}", &out), MC_STATUS_HANDLER_FAILED);
    CHECK_LAST_ERROR_CONTAINS(
        "mc_api_invoke: the handler of M.Bad failed with status 4 (MC_STATUS_INVALID_ARGUMENT) and set no message "
        "(mc_api_call_set_error)");
    mc_hub_free(hub);
}

/* ----- nested calls -------------------------------------------------------------------------- */

static uint32_t recurse(void *user_data, mc_call call) {
    mc_hub *hub = user_data;
    char *out = NULL;
    const char *req = "{\"module\":\"M\",\"operation\":\"Recurse\"}";
    mc_status s = mc_api_invoke(hub, req, strlen(req), &out, NULL);
    if (s == MC_STATUS_OK) {
        set_result(call, out);
        mc_string_free(out);
    }
    return s; /* passes the nested error on */
}

static uint32_t outer(void *user_data, mc_call call) {
    mc_hub *hub = user_data;
    char *out = NULL;
    const char *req = "{\"module\":\"LabRunner\",\"operation\":\"ExecuteStep\",\"parameters\":{\"StepName\":\"inner\"}}";
    mc_status s = mc_api_invoke(hub, req, strlen(req), &out, NULL);
    if (s == MC_STATUS_OK) {
        set_result(call, out);
        mc_string_free(out);
        return MC_STATUS_OK;
    }
    mc_api_call_set_error(call, MC_STATUS_HANDLER_FAILED, "inner call failed");
    return MC_STATUS_HANDLER_FAILED;
}

static void a_handler_may_invoke_another_api_and_recursion_stops_at_the_depth_limit(void) {
    mc_hub *hub = new_hub();
    atomic_int calls = 0;
    CHECK_OK(register_api(hub, EXECUTE_STEP, execute_step, &calls));
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"Outer\"}", outer, hub));
    char *out = NULL;
    CHECK_OK(invoke(hub, "{\"module\":\"M\",\"operation\":\"Outer\"}", &out));
    CHECK_CONTAINS(out, "\"depth\":2");
    mc_string_free(out);

    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"Recurse\"}", recurse, hub));
    CHECK_STATUS(invoke(hub, "{\"module\":\"M\",\"operation\":\"Recurse\"}", &out), MC_STATUS_CALL_DEPTH_EXCEEDED);
    CHECK_LAST_ERROR_CONTAINS("more than the limit of 32");
    mc_hub_free(hub);
}

/* ----- work handed to another thread ---------------------------------------------------------- */

/* What a handler hands to a thread of its own (as PowerShell runs a stage in the runspace that
 * registered it): a nested call and a publish, there, with or without entering the call. */
typedef struct {
    mc_hub *hub;
    mc_call call;
    int enter;
    mc_status entered, invoked, published, left, left_again;
    char result[4200];
} handoff;

static void *handoff_thread(void *arg) {
    handoff *h = arg;
    if (h->enter) h->entered = mc_api_call_enter(h->call);
    const char *req = "{\"module\":\"LabRunner\",\"operation\":\"ExecuteStep\",\"parameters\":{\"StepName\":\"inner\"}}";
    char *out = NULL;
    h->invoked = mc_api_invoke(h->hub, req, strlen(req), &out, NULL);
    if (h->invoked == MC_STATUS_OK) snprintf(h->result, sizeof h->result, "%s", out);
    mc_string_free(out);
    const char *msg = "{\"channel\":\"C\",\"messageType\":\"FromHandler\"}";
    mc_id id;
    h->published = mc_publish(h->hub, msg, strlen(msg), &id);
    if (h->enter) {
        h->left = mc_api_call_leave(h->call);
        h->left_again = mc_api_call_leave(h->call);
    }
    return NULL;
}

static uint32_t hands_off(void *user_data, mc_call call) {
    handoff *h = user_data;
    h->call = call;
    pthread_t thread;
    if (pthread_create(&thread, NULL, handoff_thread, h) != 0) return MC_STATUS_HANDLER_FAILED;
    pthread_join(thread, NULL);
    return MC_STATUS_OK;
}

static void work_handed_to_another_thread_nests_in_the_call_it_entered(void) {
    mc_hub *hub = new_hub();
    atomic_int calls = 0;
    CHECK_OK(register_api(hub, EXECUTE_STEP, execute_step, &calls));
    CHECK_OK(mc_channel_create(hub, "C", NULL, 0));
    const char *opts = "{\"level\":\"Basic\"}";
    CHECK_OK(mc_trace_enable(hub, opts, strlen(opts)));
    handoff h = {hub, 0, 1, MC_STATUS_PANIC, MC_STATUS_PANIC, MC_STATUS_PANIC, MC_STATUS_PANIC, MC_STATUS_PANIC, ""};
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"HandsOff\"}", hands_off, &h));
    char *out = NULL;
    const char *req = "{\"module\":\"M\",\"operation\":\"HandsOff\",\"requestId\":\"0b5c6a3e-0000-4000-8000-0000000000a1\"}";
    CHECK_OK(invoke(hub, req, &out));
    mc_string_free(out);
    CHECK(h.entered == MC_STATUS_OK && h.invoked == MC_STATUS_OK && h.published == MC_STATUS_OK);
    /* The nested call is the handler's child, not a call of its own. */
    CHECK_CONTAINS(h.result, "\"depth\":2");
    /* The publish is traced with the request id of the call it was made for. */
    char *trace = NULL;
    CHECK_OK(mc_trace_read(hub, 0, &trace));
    CHECK_CONTAINS(trace,
                   "\"requestId\":\"0b5c6a3e-0000-4000-8000-0000000000a1\",\"channel\":\"C\",\"messageType\":\"FromHandler\"");
    mc_string_free(trace);
    CHECK(h.left == MC_STATUS_OK);
    CHECK(h.left_again == MC_STATUS_INVALID_ARGUMENT); /* entered once, left once */
    /* Only a call whose callback runs can be entered. */
    CHECK_STATUS(mc_api_call_enter(h.call), MC_STATUS_CALL_NOT_ACTIVE);
    mc_hub_free(hub);
}

/* A call held open on a thread of its own, for another thread to enter. */
typedef struct {
    mc_hub *hub;
    atomic_ullong call;
    atomic_int release;
} held_call;

static uint32_t hold_until_released(void *user_data, mc_call call) {
    held_call *h = user_data;
    atomic_store(&h->call, call);
    while (!atomic_load(&h->release)) harness_sleep_1ms();
    return MC_STATUS_OK;
}

static void *invoke_hold(void *arg) {
    held_call *h = arg;
    char *out = NULL;
    invoke(h->hub, "{\"module\":\"M\",\"operation\":\"Hold\"}", &out);
    mc_string_free(out);
    return NULL;
}

static uint32_t report_depth(void *user_data, mc_call call) {
    (void)user_data;
    uint32_t depth = 0;
    mc_api_call_depth(call, &depth);
    char text[16];
    snprintf(text, sizeof text, "%u", depth);
    return set_result(call, text);
}

static mc_status leave_in_callback = MC_STATUS_PANIC, enter_in_callback = MC_STATUS_PANIC;

static uint32_t leaves_the_held_call(void *user_data, mc_call call) {
    (void)call;
    leave_in_callback = mc_api_call_leave((mc_call)atomic_load(&((held_call *)user_data)->call));
    return MC_STATUS_OK;
}

static uint32_t enters_the_held_call(void *user_data, mc_call call) {
    (void)call;
    enter_in_callback = mc_api_call_enter((mc_call)atomic_load(&((held_call *)user_data)->call));
    return MC_STATUS_OK;
}

/* The depth of a call made on this thread now: 1 when it works for no call. */
static int depth_here(mc_hub *hub) {
    char *out = NULL;
    mc_status status = invoke(hub, "{\"module\":\"M\",\"operation\":\"Depth\"}", &out);
    int depth = status == MC_STATUS_OK ? atoi(out) : -1;
    mc_string_free(out);
    return depth;
}

static void a_callback_can_neither_leave_an_enter_made_before_it_nor_leave_its_own_behind(void) {
    mc_hub *hub = new_hub();
    held_call h = {hub, 0, 0};
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"Hold\"}", hold_until_released, &h));
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"Depth\"}", report_depth, NULL));
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"LeaveInside\"}", leaves_the_held_call, &h));
    CHECK_OK(register_api(hub, "{\"module\":\"M\",\"operation\":\"EnterInside\"}", enters_the_held_call, &h));
    pthread_t holder;
    CHECK(pthread_create(&holder, NULL, invoke_hold, &h) == 0);
    CHECK_EVENTUALLY(atomic_load(&h.call) != 0, 10000);
    mc_call held = (mc_call)atomic_load(&h.call);
    char *out = NULL;

    /* Entered here; a callback nested in it may not leave it (nothing changes). */
    CHECK_OK(mc_api_call_enter(held));
    CHECK(depth_here(hub) == 2);
    CHECK_OK(invoke(hub, "{\"module\":\"M\",\"operation\":\"LeaveInside\"}", &out));
    mc_string_free(out);
    CHECK(leave_in_callback == MC_STATUS_INVALID_ARGUMENT);
    CHECK(depth_here(hub) == 2);
    CHECK_OK(mc_api_call_leave(held));
    CHECK(depth_here(hub) == 1);

    /* Entered in a callback that returns without leaving: its return ends the enter. */
    CHECK_OK(invoke(hub, "{\"module\":\"M\",\"operation\":\"EnterInside\"}", &out));
    mc_string_free(out);
    CHECK(enter_in_callback == MC_STATUS_OK);
    CHECK(depth_here(hub) == 1);
    CHECK_STATUS(mc_api_call_leave(held), MC_STATUS_INVALID_ARGUMENT);
    CHECK(depth_here(hub) == 1);

    atomic_store(&h.release, 1);
    pthread_join(holder, NULL);
    CHECK(depth_here(hub) == 1);
    mc_hub_free(hub);
}

/* ----- listing, unregistering, release ------------------------------------------------------- */

static atomic_int released;

static void count_release(void *user_data) {
    (void)user_data;
    atomic_fetch_add(&released, 1);
}

static void list_unregister_and_release(void) {
    mc_hub *hub = new_hub();
    atomic_store(&released, 0);
    atomic_int calls = 0;
    CHECK_OK(mc_api_register(hub, EXECUTE_STEP, strlen(EXECUTE_STEP), execute_step, count_release, &calls, 0));
    const char *mw = "{\"name\":\"Scoped\",\"module\":\"LabRunner\",\"operation\":\"ExecuteStep\"}";
    CHECK_OK(mc_middleware_add(hub, mw, strlen(mw), logging_middleware, count_release, NULL, 0));
    char *list = NULL;
    CHECK_OK(mc_api_list(hub, "lab*", NULL, &list));
    CHECK_CONTAINS(list, "\"apiKey\":\"LabRunner.ExecuteStep\"");
    CHECK_CONTAINS(list, "\"description\":\"Execute a lab automation step\"");
    CHECK_CONTAINS(list, "\"StepName\":{\"type\":\"string\",\"required\":true");
    CHECK_CONTAINS(list, "\"middleware\":[\"Scoped\"]");
    CHECK_CONTAINS(list, "\"callerThread\":false");
    mc_string_free(list);
    CHECK_OK(mc_api_list(hub, "Backup*", NULL, &list));
    CHECK(list != NULL && strcmp(list, "[]") == 0);
    mc_string_free(list);

    /* A second registration fails, does not call release, and keeps the first. */
    CHECK_STATUS(mc_api_register(hub, EXECUTE_STEP, strlen(EXECUTE_STEP), execute_step, count_release, &calls, 0),
                 MC_STATUS_API_EXISTS);
    CHECK_LAST_ERROR_CONTAINS("API 'LabRunner.ExecuteStep' is registered already");
    CHECK(atomic_load(&released) == 0);

    size_t removed = 99;
    CHECK_OK(mc_api_unregister(hub, "LABRUNNER", "executestep", &removed));
    CHECK(removed == 1);
    CHECK(atomic_load(&released) == 2); /* the handler and its middleware */
    CHECK_STATUS(mc_api_unregister(hub, "LabRunner", "ExecuteStep", NULL), MC_STATUS_API_NOT_FOUND);
    CHECK_OK(mc_middleware_list(hub, NULL, &list));
    CHECK(list != NULL && strcmp(list, "[]") == 0);
    mc_string_free(list);

    /* Global middleware: remove by name, release once. */
    const char *g1 = "{\"name\":\"G\"}", *g2 = "{\"name\":\"g\"}";
    CHECK_OK(mc_middleware_add(hub, g1, strlen(g1), logging_middleware, count_release, NULL, 0));
    CHECK_STATUS(mc_middleware_add(hub, g2, strlen(g2), logging_middleware, count_release, NULL, 0), MC_STATUS_MIDDLEWARE_EXISTS);
    CHECK_OK(mc_middleware_remove(hub, "g"));
    CHECK(atomic_load(&released) == 3);
    CHECK_STATUS(mc_middleware_remove(hub, "G"), MC_STATUS_MIDDLEWARE_NOT_FOUND);

    /* Freeing the hub releases what is still registered. */
    CHECK_OK(mc_api_register(hub, EXECUTE_STEP, strlen(EXECUTE_STEP), execute_step, count_release, &calls, 0));
    mc_hub_free(hub);
    CHECK(atomic_load(&released) == 4);
}

/* ----- bad arguments ------------------------------------------------------------------------- */

static mc_call kept_call;

static uint32_t keep_call_id(void *user_data, mc_call call) {
    (void)user_data;
    kept_call = call;
    /* A handler has no next stage. */
    char *out = NULL;
    CHECK_STATUS(mc_api_next(call, NULL, 0, &out, NULL), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("only middleware has a next stage");
    CHECK_STATUS(set_result(call, "{not json"), MC_STATUS_INVALID_JSON);
    CHECK_STATUS(mc_api_call_set_error(call, MC_STATUS_OK, "x"), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_api_call_set_error(call, 12345, "x"), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_api_call_set_error(call, MC_STATUS_HANDLER_FAILED, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_api_call_context(call, NULL, NULL), MC_STATUS_NULL_ARGUMENT);
    uint64_t tag = 0;
    uint32_t depth = 0;
    CHECK_OK(mc_api_call_tag(call, &tag));
    CHECK(tag == 7);
    CHECK_OK(mc_api_call_depth(call, &depth));
    CHECK(depth == 1);
    return MC_STATUS_OK;
}

static uint32_t bad_context_middleware(void *user_data, mc_call call) {
    (void)user_data;
    char *out = (char *)"untouched";
    CHECK_STATUS(mc_api_next(call, "{\"bogus\":1}", 11, &out, NULL), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_api_next(call, "[1]", 3, &out, NULL), MC_STATUS_INVALID_JSON);
    CHECK_STATUS(mc_api_next(call, "{\"metadata\":1}", 14, &out, NULL), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_api_next(call, NULL, 0, NULL, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK(strcmp(out, "untouched") == 0);
    return mc_api_next(call, NULL, 0, &out, NULL) == MC_STATUS_OK ? (mc_string_free(out), MC_STATUS_OK) : MC_STATUS_HANDLER_FAILED;
}

static void every_bad_argument_gets_its_status_and_out_params_stay_untouched(void) {
    mc_hub *hub = new_hub();
    const char *def = "{\"module\":\"M\",\"operation\":\"Op\"}";
    size_t dlen = strlen(def);
    CHECK_STATUS(mc_api_register(NULL, def, dlen, do_nothing, NULL, NULL, 0), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_api_register(hub, NULL, 0, do_nothing, NULL, NULL, 0), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_api_register(hub, def, dlen, NULL, NULL, NULL, 0), MC_STATUS_NULL_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("`callback` is NULL");
    CHECK_STATUS(mc_api_register(hub, def, dlen, do_nothing, NULL, NULL, 4), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(register_api(hub, "{\"module\":\"M\"", do_nothing, NULL), MC_STATUS_INVALID_JSON);
    CHECK_STATUS(register_api(hub, "[1]", do_nothing, NULL), MC_STATUS_INVALID_JSON);
    CHECK_STATUS(register_api(hub, "{\"module\":\"M\",\"operation\":\"Op\",\"colour\":1}", do_nothing, NULL), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(register_api(hub, "{\"module\":\"M\",\"operation\":\"a.b\"}", do_nothing, NULL), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(register_api(hub, "{\"module\":\"\",\"operation\":\"b\"}", do_nothing, NULL), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(register_api(hub, "{\"module\":\"M\",\"operation\":\"Op\",\"timeoutMs\":0}", do_nothing, NULL), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(register_api(hub, "{\"module\":\"M\",\"operation\":\"Op\",\"parameters\":{\"A\":{\"type\":\"float\"}}}", do_nothing, NULL),
                 MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("unknown type; use one of string, int, long, double, bool, hashtable, array, datetime, object");
    char bad_utf8[] = "{\"module\":\"\xff\",\"operation\":\"x\"}";
    CHECK_STATUS(register_api(hub, bad_utf8, do_nothing, NULL), MC_STATUS_INVALID_UTF8);
    char *list = NULL;
    CHECK_OK(mc_api_list(hub, NULL, NULL, &list));
    CHECK(list != NULL && strcmp(list, "[]") == 0); /* nothing was registered by the failures */
    mc_string_free(list);

    CHECK_OK(register_api(hub, def, keep_call_id, NULL));
    char *out = (char *)"untouched";
    CHECK_STATUS(mc_api_invoke(NULL, "{}", 2, &out, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_api_invoke(hub, NULL, 0, &out, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_api_invoke(hub, def, dlen, NULL, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(invoke(hub, "{\"module\":\"M\"}", &out), MC_STATUS_INVALID_JSON);
    CHECK_STATUS(invoke(hub, "{\"module\":\"M\",\"operation\":\"Op\",\"parameters\":[1]}", &out), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(invoke(hub, "{\"module\":\"M\",\"operation\":\"Op\",\"timeoutMs\":-1}", &out), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(invoke(hub, "{\"module\":\"M\",\"operation\":\"Op\",\"timeoutMs\":0}", &out), MC_STATUS_INVALID_ARGUMENT);
    CHECK(strcmp(out, "untouched") == 0);
    char *details = (char *)"untouched";
    CHECK_OK(mc_api_error_details(&details));
    CHECK(details == NULL); /* bad arguments are not call failures */
    CHECK_STATUS(mc_api_error_details(NULL), MC_STATUS_NULL_ARGUMENT);

    CHECK_OK(invoke(hub, "{\"module\":\"M\",\"operation\":\"Op\",\"tag\":7}", &out));
    mc_string_free(out);
    /* The id outlived its callback. */
    out = (char *)"untouched";
    CHECK_STATUS(mc_api_next(kept_call, NULL, 0, &out, NULL), MC_STATUS_CALL_NOT_ACTIVE);
    CHECK_LAST_ERROR_CONTAINS("is not active");
    CHECK_STATUS(set_result(kept_call, "1"), MC_STATUS_CALL_NOT_ACTIVE);
    CHECK_STATUS(mc_api_call_context(kept_call, &out, NULL), MC_STATUS_CALL_NOT_ACTIVE);
    CHECK_STATUS(mc_api_call_set_error(kept_call, MC_STATUS_HANDLER_FAILED, "x"), MC_STATUS_CALL_NOT_ACTIVE);
    uint64_t tag = 99;
    CHECK_STATUS(mc_api_call_tag(kept_call, &tag), MC_STATUS_CALL_NOT_ACTIVE);
    CHECK(tag == 99);
    CHECK_STATUS(mc_api_call_tag(0, &tag), MC_STATUS_CALL_NOT_ACTIVE);
    CHECK(strcmp(out, "untouched") == 0);

    CHECK_OK(add_middleware(hub, "{\"name\":\"checks\"}", bad_context_middleware, NULL));
    CHECK_OK(invoke(hub, "{\"module\":\"M\",\"operation\":\"Op\",\"tag\":7}", &out));
    mc_string_free(out);
    CHECK_STATUS(add_middleware(hub, "{\"name\":\"x\",\"module\":\"M\"}", do_nothing, NULL), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(add_middleware(hub, "{\"name\":\"x\",\"module\":\"No\",\"operation\":\"Such\"}", do_nothing, NULL), MC_STATUS_API_NOT_FOUND);
    CHECK_STATUS(add_middleware(hub, "{\"name\":\"x\",\"priority\":1e3}", do_nothing, NULL), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(add_middleware(hub, "{\"name\":\"x*\"}", do_nothing, NULL), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_middleware_remove(hub, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_middleware_list(hub, "[a", &list), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_api_list(hub, NULL, NULL, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_api_unregister(hub, NULL, "Op", NULL), MC_STATUS_NULL_ARGUMENT);
    /* Still works. */
    CHECK_OK(invoke(hub, "{\"module\":\"M\",\"operation\":\"Op\",\"tag\":7}", &out));
    mc_string_free(out);
    mc_hub_free(hub);
}

int main(void) {
    RUN_TEST(invoke_returns_the_handlers_json_with_validated_parameters);
    RUN_TEST(a_handler_that_sets_no_result_returns_null);
    RUN_TEST(a_successful_call_leaves_no_last_error_behind);
    RUN_TEST(validation_failure_names_the_parameter_and_the_handler_never_runs);
    RUN_TEST(an_unknown_api_is_api_not_found);
    RUN_TEST(a_call_past_its_timeout_returns_timeout_in_time);
    RUN_TEST(freeing_the_hub_waits_for_a_handler_its_call_abandoned_at_the_timeout);
    RUN_TEST(the_apis_default_timeout_applies);
    RUN_TEST(middleware_runs_by_priority_outermost_first_ties_in_registration_order);
    RUN_TEST(middleware_that_does_not_call_next_short_circuits);
    RUN_TEST(a_middleware_may_pass_the_context_it_read_back_to_next);
    RUN_TEST(error_details_are_empty_after_a_call_that_succeeded_despite_a_nested_failure);
    RUN_TEST(context_changes_by_middleware_reach_validation_and_the_handler);
    RUN_TEST(a_middleware_error_fails_the_call_and_inner_errors_pass_through_unchanged);
    RUN_TEST(a_handler_failing_without_a_message_is_handler_failed);
    RUN_TEST(a_handler_may_invoke_another_api_and_recursion_stops_at_the_depth_limit);
    RUN_TEST(work_handed_to_another_thread_nests_in_the_call_it_entered);
    RUN_TEST(a_callback_can_neither_leave_an_enter_made_before_it_nor_leave_its_own_behind);
    RUN_TEST(list_unregister_and_release);
    RUN_TEST(every_bad_argument_gets_its_status_and_out_params_stay_untouched);
    return harness_summary();
}
