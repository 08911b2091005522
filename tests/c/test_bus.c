/* tests/c/test_bus.c: the message bus through the C ABI, as a C program uses it.
 *
 * Hubs, channels, publishing with JSON data, push subscriptions (a C callback with
 * user_data), pull subscriptions (take and complete), listings and statistics, the
 * configuration, pause and resume, the waits, clearing queues, priority order and the
 * last-error text. Each test uses its own hub. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>

_Static_assert(sizeof(mc_id) == 16, "mc_id is 16 bytes");

#define WAIT_MS 10000

/* ----- helpers ------------------------------------------------------------------------------ */

static mc_hub *new_hub(void) {
    mc_hub *hub = NULL;
    CHECK_OK(mc_hub_new(NULL, 0, &hub));
    CHECK(hub != NULL);
    return hub;
}

static mc_status publish(const mc_hub *hub, const char *json, mc_id *out_id) {
    mc_id ignored;
    return mc_publish(hub, json, strlen(json), out_id ? out_id : &ignored);
}

/* The id in its text form (lowercase, hyphenated), as the library prints it in JSON. */
static void id_text(const mc_id *id, char out[37]) {
    unsigned char b[16];
    memcpy(b, id, sizeof b);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

static size_t count_occurrences(const char *text, const char *fragment) {
    size_t n = 0;
    for (const char *p = text; p != NULL && (p = strstr(p, fragment)) != NULL; p += strlen(fragment)) {
        n++;
    }
    return n;
}

/* What a push callback saw; passed as user_data, so its counter moving proves the callback
 * received the pointer given to mc_subscribe. */
typedef struct {
    atomic_int calls;
    pthread_mutex_t lock;
    char last[4096];
} sink;

static void sink_init(sink *s) {
    atomic_init(&s->calls, 0);
    pthread_mutex_init(&s->lock, NULL);
    s->last[0] = '\0';
}

static void sink_destroy(sink *s) { pthread_mutex_destroy(&s->lock); }

static void sink_last(sink *s, char *out, size_t size) {
    pthread_mutex_lock(&s->lock);
    snprintf(out, size, "%s", s->last);
    pthread_mutex_unlock(&s->lock);
}

static bool on_message(void *user_data, const char *json, size_t len) {
    sink *s = user_data;
    pthread_mutex_lock(&s->lock);
    size_t n = len < sizeof s->last - 1 ? len : sizeof s->last - 1;
    memcpy(s->last, json, n);
    s->last[n] = '\0';
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(&s->calls, 1);
    return true;
}

static void on_notify(void *user_data) { atomic_fetch_add((atomic_int *)user_data, 1); }

static mc_status subscribe_push(const mc_hub *hub, const char *options, sink *s, mc_id *out_id) {
    return mc_subscribe(hub, options, strlen(options), on_message, s, out_id);
}

/* ----- hubs --------------------------------------------------------------------------------- */

static void hub_new_and_free_work_and_free_of_null_is_harmless(void) {
    mc_hub *hub = NULL;
    CHECK_OK(mc_hub_new(NULL, 0, &hub));
    CHECK(hub != NULL);
    mc_hub_free(hub);
    mc_hub_free(NULL);
}

static void hub_new_takes_a_partial_configuration(void) {
    const char *config = "{\"maxMessageQueueSize\":500,\"blockTimeoutMs\":250}";
    mc_hub *hub = NULL;
    CHECK_OK(mc_hub_new(config, strlen(config), &hub));
    char *json = NULL;
    CHECK_OK(mc_config_get(hub, &json));
    CHECK_CONTAINS(json, "\"maxMessageQueueSize\":500");
    CHECK_CONTAINS(json, "\"blockTimeoutMs\":250");
    CHECK_CONTAINS(json, "\"defaultOverflow\":\"DropOldest\"");
    mc_string_free(json);
    mc_hub_free(hub);
}

static void two_hubs_are_independent(void) {
    mc_hub *a = new_hub();
    mc_hub *b = new_hub();
    CHECK_OK(mc_channel_create(a, "OnlyInA", NULL, 0));
    CHECK_STATUS(publish(b, "{\"channel\":\"OnlyInA\",\"messageType\":\"T\"}", NULL), MC_STATUS_CHANNEL_NOT_FOUND);
    CHECK_OK(mc_channel_create(b, "OnlyInA", NULL, 0));
    mc_hub_free(a);
    CHECK_OK(publish(b, "{\"channel\":\"OnlyInA\",\"messageType\":\"T\"}", NULL));
    mc_hub_free(b);
}

/* ----- channels ----------------------------------------------------------------------------- */

static void channel_create_list_and_remove(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Configuration", "Configuration updates", 1000));
    CHECK_OK(mc_channel_create(hub, "Alerts", NULL, 0));

    char *json = NULL;
    CHECK_OK(mc_channel_list(hub, NULL, &json));
    CHECK(json != NULL && json[0] == '[');
    CHECK_CONTAINS(json, "\"name\":\"Configuration\"");
    CHECK_CONTAINS(json, "\"description\":\"Configuration updates\"");
    CHECK_CONTAINS(json, "\"maxMessages\":1000");
    CHECK_CONTAINS(json, "\"name\":\"Alerts\"");
    CHECK_CONTAINS(json, "\"description\":null");
    CHECK_CONTAINS(json, "\"maxMessages\":10000"); /* 0 = the configuration's default */
    CHECK_CONTAINS(json, "\"createdAt\":\"");
    CHECK_CONTAINS(json, "\"published\":0");
    CHECK_CONTAINS(json, "\"queueLength\":0");
    if (json != NULL) {
        const char *alerts = strstr(json, "\"Alerts\"");
        const char *config = strstr(json, "\"Configuration\"");
        CHECK(alerts != NULL && config != NULL && alerts < config); /* sorted by name */
    }
    mc_string_free(json);

    json = NULL;
    CHECK_OK(mc_channel_list(hub, "conf*", &json)); /* patterns ignore case */
    CHECK_CONTAINS(json, "\"name\":\"Configuration\"");
    CHECK_NOT_CONTAINS(json, "Alerts");
    mc_string_free(json);

    json = NULL;
    CHECK_OK(mc_channel_list(hub, "Nothing*", &json));
    CHECK(json != NULL && strcmp(json, "[]") == 0);
    mc_string_free(json);

    size_t cleared = 12345;
    CHECK_OK(mc_channel_remove(hub, "CONFIGURATION", &cleared)); /* names ignore case */
    CHECK(cleared == 0);
    CHECK_OK(mc_channel_remove(hub, "Alerts", NULL));
    json = NULL;
    CHECK_OK(mc_channel_list(hub, NULL, &json));
    CHECK(json != NULL && strcmp(json, "[]") == 0);
    mc_string_free(json);
    mc_hub_free(hub);
}

static void removing_a_channel_clears_its_queued_messages(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Work", NULL, 0));
    const char *options = "{\"channel\":\"Work\"}";
    mc_id sub;
    CHECK_OK(mc_subscribe_pull(hub, options, strlen(options), NULL, NULL, &sub));
    CHECK_OK(publish(hub, "{\"channel\":\"Work\",\"messageType\":\"Job\"}", NULL));
    CHECK_OK(publish(hub, "{\"channel\":\"Work\",\"messageType\":\"Job\"}", NULL));
    size_t cleared = 0;
    CHECK_OK(mc_channel_remove(hub, "Work", &cleared));
    CHECK(cleared == 2);
    CHECK_OK(mc_wait_idle(hub, WAIT_MS));
    mc_hub_free(hub);
}

/* ----- publish and push subscriptions ------------------------------------------------------- */

static void publish_delivers_the_json_message_to_a_push_callback_with_its_user_data(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Configuration", NULL, 0));
    sink s;
    sink_init(&s);
    mc_id sub;
    CHECK_OK(subscribe_push(hub, "{\"channel\":\"Config*\",\"messageType\":\"ConfigChanged\"}", &s, &sub));

    const char *message = "{\"channel\":\"configuration\",\"messageType\":\"ConfigChanged\","
                          "\"data\":{\"Setting\":\"MaxJobs\",\"Value\":[1,2.5,true,null,\"x\"]},"
                          "\"sourceModule\":\"ConfigurationCore\",\"priority\":\"high\","
                          "\"correlationId\":\"corr-42\"}";
    mc_id id;
    memset(&id, 0, sizeof id);
    CHECK_OK(publish(hub, message, &id));
    mc_id zero;
    memset(&zero, 0, sizeof zero);
    CHECK(memcmp(&id, &zero, sizeof id) != 0);
    CHECK_OK(mc_wait_delivered(hub, id, WAIT_MS));
    CHECK(atomic_load(&s.calls) == 1);

    char last[4096];
    char text[37];
    char fragment[64];
    sink_last(&s, last, sizeof last);
    id_text(&id, text);
    snprintf(fragment, sizeof fragment, "\"id\":\"%s\"", text);
    CHECK_CONTAINS(last, fragment);
    CHECK_CONTAINS(last, "\"channel\":\"Configuration\""); /* the channel's own spelling */
    CHECK_CONTAINS(last, "\"messageType\":\"ConfigChanged\"");
    CHECK_CONTAINS(last, "\"data\":{\"Setting\":\"MaxJobs\",\"Value\":[1,2.5,true,null,\"x\"]}");
    CHECK_CONTAINS(last, "\"sourceModule\":\"ConfigurationCore\"");
    CHECK_CONTAINS(last, "\"priority\":\"High\"");
    CHECK_CONTAINS(last, "\"correlationId\":\"corr-42\"");
    CHECK_CONTAINS(last, "\"expiresAt\":null");
    CHECK_CONTAINS(last, "\"timestamp\":\"");

    /* A message type the subscription does not select never reaches it. */
    mc_id other;
    CHECK_OK(publish(hub, "{\"channel\":\"Configuration\",\"messageType\":\"Other\"}", &other));
    CHECK_OK(mc_wait_idle(hub, WAIT_MS));
    CHECK(atomic_load(&s.calls) == 1);

    CHECK_OK(mc_unsubscribe(hub, sub));
    mc_hub_free(hub);
    sink_destroy(&s);
}

static void unsubscribe_stops_the_callback(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "News", NULL, 0));
    sink s;
    sink_init(&s);
    mc_id sub;
    CHECK_OK(subscribe_push(hub, "{\"channel\":\"News\"}", &s, &sub));
    CHECK_OK(publish(hub, "{\"channel\":\"News\",\"messageType\":\"Item\"}", NULL));
    CHECK_EVENTUALLY(atomic_load(&s.calls) == 1, WAIT_MS);

    CHECK_OK(mc_unsubscribe(hub, sub));
    /* From here on the callback can no longer run: no wait is needed to see that. */
    for (int i = 0; i < 10; i++) {
        CHECK_OK(publish(hub, "{\"channel\":\"News\",\"messageType\":\"Item\"}", NULL));
    }
    CHECK(atomic_load(&s.calls) == 1);
    char *json = NULL;
    CHECK_OK(mc_subscription_list(hub, NULL, &json));
    CHECK(json != NULL && strcmp(json, "[]") == 0);
    mc_string_free(json);
    CHECK_STATUS(mc_unsubscribe(hub, sub), MC_STATUS_SUBSCRIPTION_NOT_FOUND);
    mc_hub_free(hub);
    sink_destroy(&s);
}

/* A callback that unsubscribes itself on its first message. */
typedef struct {
    const mc_hub *hub;
    mc_id id;
    atomic_int ready;
    atomic_int calls;
    atomic_int unsubscribe_status;
} self_unsubscriber;

static bool unsubscribe_self(void *user_data, const char *json, size_t len) {
    (void)json;
    (void)len;
    self_unsubscriber *u = user_data;
    while (!atomic_load(&u->ready)) {
        harness_sleep_1ms(); /* the id is written once mc_subscribe returns */
    }
    if (atomic_fetch_add(&u->calls, 1) == 0) {
        atomic_store(&u->unsubscribe_status, (int)mc_unsubscribe(u->hub, u->id));
    }
    return true;
}

static void a_callback_may_unsubscribe_itself(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "News", NULL, 0));
    self_unsubscriber u = {.hub = hub};
    atomic_init(&u.ready, 0);
    atomic_init(&u.calls, 0);
    atomic_init(&u.unsubscribe_status, -1);
    const char *options = "{\"channel\":\"News\"}";
    CHECK_OK(mc_subscribe(hub, options, strlen(options), unsubscribe_self, &u, &u.id));
    atomic_store(&u.ready, 1);
    CHECK_OK(publish(hub, "{\"channel\":\"News\",\"messageType\":\"A\"}", NULL));
    CHECK_OK(publish(hub, "{\"channel\":\"News\",\"messageType\":\"B\"}", NULL));
    CHECK_EVENTUALLY(atomic_load(&u.unsubscribe_status) != -1, WAIT_MS);
    CHECK(atomic_load(&u.unsubscribe_status) == (int)MC_STATUS_OK);
    CHECK_OK(mc_wait_idle(hub, WAIT_MS));
    CHECK(atomic_load(&u.calls) == 1);
    mc_hub_free(hub);
}

/* A callback that invokes, with a timeout, an API whose handler unsubscribes the callback's
 * subscription: the handler runs on the call's worker thread while the callback waits for it. */
typedef struct {
    const mc_hub *hub;
    mc_id id;
    atomic_int ready;
    atomic_int calls;
    atomic_int invoke_status;
    atomic_int unsubscribe_status;
} unsubscribing_api;

static uint32_t unsubscribe_the_caller(void *user_data, mc_call call) {
    (void)call;
    unsubscribing_api *u = user_data;
    atomic_store(&u->unsubscribe_status, (int)mc_unsubscribe(u->hub, u->id));
    return MC_STATUS_OK;
}

static bool invoke_an_api_that_unsubscribes_me(void *user_data, const char *json, size_t len) {
    (void)json;
    (void)len;
    unsubscribing_api *u = user_data;
    while (!atomic_load(&u->ready)) {
        harness_sleep_1ms(); /* the id is written once mc_subscribe returns */
    }
    if (atomic_fetch_add(&u->calls, 1) == 0) {
        const char *request = "{\"module\":\"M\",\"operation\":\"EndCaller\",\"timeoutMs\":30000,\"retryAttempts\":0}";
        char *out = NULL;
        atomic_store(&u->invoke_status, (int)mc_api_invoke(u->hub, request, strlen(request), &out, NULL));
        mc_string_free(out);
    }
    return true;
}

static void an_api_handler_that_a_callback_invoked_with_a_timeout_may_unsubscribe_that_callback(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "News", NULL, 0));
    unsubscribing_api u = {.hub = hub};
    atomic_init(&u.ready, 0);
    atomic_init(&u.calls, 0);
    atomic_init(&u.invoke_status, -1);
    atomic_init(&u.unsubscribe_status, -1);
    const char *api = "{\"module\":\"M\",\"operation\":\"EndCaller\"}";
    CHECK_OK(mc_api_register(hub, api, strlen(api), unsubscribe_the_caller, NULL, &u, 0));
    const char *options = "{\"channel\":\"News\"}";
    CHECK_OK(mc_subscribe(hub, options, strlen(options), invoke_an_api_that_unsubscribes_me, &u, &u.id));
    atomic_store(&u.ready, 1);
    CHECK_OK(publish(hub, "{\"channel\":\"News\",\"messageType\":\"A\"}", NULL));
    CHECK_OK(publish(hub, "{\"channel\":\"News\",\"messageType\":\"B\"}", NULL));
    /* Without waiting for the callback, which waits for the handler: not until the timeout. */
    CHECK_EVENTUALLY(atomic_load(&u.invoke_status) != -1, WAIT_MS);
    CHECK(atomic_load(&u.unsubscribe_status) == (int)MC_STATUS_OK);
    CHECK(atomic_load(&u.invoke_status) == (int)MC_STATUS_OK);
    CHECK_OK(mc_wait_idle(hub, WAIT_MS));
    CHECK(atomic_load(&u.calls) == 1);
    mc_hub_free(hub);
}

/* A callback held until the test releases it, and a thread that unsubscribes meanwhile. */
typedef struct {
    atomic_int entered;
    atomic_int release;
} held_callback;

static bool hold_until_released(void *user_data, const char *json, size_t len) {
    (void)json;
    (void)len;
    held_callback *h = user_data;
    atomic_store(&h->entered, 1);
    while (!atomic_load(&h->release)) {
        harness_sleep_1ms();
    }
    return true;
}

typedef struct {
    const mc_hub *hub;
    mc_id id;
    atomic_int status;
} unsubscriber_args;

static void *unsubscribe_on_thread(void *arg) {
    unsubscriber_args *u = arg;
    atomic_store(&u->status, (int)mc_unsubscribe(u->hub, u->id));
    return NULL;
}

static bool subscription_list_is_empty(const mc_hub *hub) {
    char *json = NULL;
    bool empty = mc_subscription_list(hub, NULL, &json) == MC_STATUS_OK && strcmp(json, "[]") == 0;
    mc_string_free(json);
    return empty;
}

static void wait_idle_waits_for_the_callback_of_a_subscription_being_unsubscribed(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "News", NULL, 0));
    held_callback h;
    atomic_init(&h.entered, 0);
    atomic_init(&h.release, 0);
    const char *options = "{\"channel\":\"News\"}";
    unsubscriber_args u = {.hub = hub};
    atomic_init(&u.status, -1);
    CHECK_OK(mc_subscribe(hub, options, strlen(options), hold_until_released, &h, &u.id));
    CHECK_OK(publish(hub, "{\"channel\":\"News\",\"messageType\":\"Item\"}", NULL));
    CHECK_EVENTUALLY(atomic_load(&h.entered) == 1, WAIT_MS);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, unsubscribe_on_thread, &u) == 0);
    /* The subscription leaves the list before mc_unsubscribe waits for the callback. */
    CHECK_EVENTUALLY(subscription_list_is_empty(hub), WAIT_MS);
    CHECK_STATUS(mc_wait_idle(hub, 30), MC_STATUS_TIMEOUT);
    atomic_store(&h.release, 1);
    CHECK_OK(mc_wait_idle(hub, WAIT_MS));
    pthread_join(thread, NULL);
    CHECK(atomic_load(&u.status) == (int)MC_STATUS_OK);
    mc_hub_free(hub);
}

/* A callback still running while mc_hub_free waits for it tries to subscribe until the hub
   refuses (it takes no new subscriptions once freeing starts); one made before is removed. */
typedef struct {
    mc_hub *hub;
    atomic_int running;
    atomic_int refused_status;
} late_subscriber;

static bool subscribe_until_refused(void *user_data, const char *json, size_t len) {
    (void)json;
    (void)len;
    late_subscriber *l = user_data;
    atomic_store(&l->running, 1);
    const char *options = "{\"channel\":\"News\"}";
    int64_t deadline = harness_now_ms() + WAIT_MS;
    while (harness_now_ms() < deadline) {
        mc_id id;
        mc_status status = mc_subscribe_pull(l->hub, options, strlen(options), NULL, NULL, &id);
        if (status != MC_STATUS_OK) {
            atomic_store(&l->refused_status, (int)status);
            break;
        }
        mc_unsubscribe(l->hub, id);
        harness_sleep_1ms();
    }
    return true;
}

static void a_callback_cannot_subscribe_once_the_hub_is_being_freed(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "News", NULL, 0));
    late_subscriber l = {.hub = hub};
    atomic_init(&l.running, 0);
    atomic_init(&l.refused_status, -1);
    const char *options = "{\"channel\":\"News\"}";
    mc_id id;
    CHECK_OK(mc_subscribe(hub, options, strlen(options), subscribe_until_refused, &l, &id));
    CHECK_OK(publish(hub, "{\"channel\":\"News\",\"messageType\":\"A\"}", NULL));
    CHECK_EVENTUALLY(atomic_load(&l.running) == 1, WAIT_MS);
    mc_hub_free(hub); /* waits for the callback, which sees the refusal */
    CHECK(atomic_load(&l.refused_status) == (int)MC_STATUS_INVALID_ARGUMENT);
}

static bool refuse(void *user_data, const char *json, size_t len) {
    (void)json;
    (void)len;
    atomic_fetch_add((atomic_int *)user_data, 1);
    return false;
}

static void a_callback_returning_false_counts_a_failure(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "News", NULL, 0));
    atomic_int calls;
    atomic_init(&calls, 0);
    const char *options = "{\"channel\":\"News\"}";
    mc_id sub;
    CHECK_OK(mc_subscribe(hub, options, strlen(options), refuse, &calls, &sub));
    mc_id id;
    CHECK_OK(publish(hub, "{\"channel\":\"News\",\"messageType\":\"Item\"}", &id));
    CHECK_OK(mc_wait_delivered(hub, id, WAIT_MS)); /* a failure completes the message too */
    CHECK(atomic_load(&calls) == 1);
    char *json = NULL;
    CHECK_OK(mc_subscription_list(hub, NULL, &json));
    CHECK_CONTAINS(json, "\"delivered\":0");
    CHECK_CONTAINS(json, "\"failed\":1");
    CHECK_NOT_CONTAINS(json, "\"lastError\":null");
    mc_string_free(json);
    json = NULL;
    CHECK_OK(mc_bus_stats(hub, &json));
    CHECK_CONTAINS(json, "\"failed\":1");
    mc_string_free(json);
    mc_hub_free(hub);
}

static void a_subscription_may_precede_its_channel(void) {
    mc_hub *hub = new_hub();
    sink s;
    sink_init(&s);
    mc_id sub;
    CHECK_OK(subscribe_push(hub, "{\"channel\":\"Later\"}", &s, &sub));
    CHECK_STATUS(publish(hub, "{\"channel\":\"Later\",\"messageType\":\"T\"}", NULL), MC_STATUS_CHANNEL_NOT_FOUND);
    CHECK_OK(mc_channel_create(hub, "later", NULL, 0));
    CHECK_OK(publish(hub, "{\"channel\":\"LATER\",\"messageType\":\"T\"}", NULL));
    CHECK_OK(mc_wait_idle(hub, WAIT_MS));
    CHECK(atomic_load(&s.calls) == 1);
    mc_hub_free(hub); /* frees the subscription too; the callback is not running any more */
    sink_destroy(&s);
}

/* ----- pull subscriptions ------------------------------------------------------------------- */

static void pull_take_above_runs_what_arrived_more_urgent_before_the_rest(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Jobs", NULL, 0));
    const char *options = "{\"channel\":\"Jobs\"}";
    mc_id sub;
    mc_id id;
    CHECK_OK(mc_subscribe_pull(hub, options, strlen(options), NULL, NULL, &sub));
    CHECK_OK(publish(hub, "{\"channel\":\"Jobs\",\"messageType\":\"Job\",\"data\":1}", &id));
    CHECK_OK(publish(hub, "{\"channel\":\"Jobs\",\"messageType\":\"Job\",\"data\":2}", &id));
    char *batch = NULL;
    size_t len = 0;
    CHECK_OK(mc_subscription_take(hub, sub, 1, 0, &batch, &len));
    CHECK_CONTAINS(batch, "\"data\":1");
    mc_string_free(batch);

    /* While 1 is handled: nothing above Normal waits, then a Critical one arrives. */
    CHECK_OK(mc_subscription_take_above(hub, sub, 10, MC_PRIORITY_NORMAL, &batch, &len));
    CHECK(strcmp(batch, "[]") == 0 && len == 2);
    mc_string_free(batch);
    CHECK_OK(publish(hub, "{\"channel\":\"Jobs\",\"messageType\":\"Job\",\"data\":3,\"priority\":\"Critical\"}", &id));
    CHECK_OK(mc_subscription_take_above(hub, sub, 10, MC_PRIORITY_NORMAL, &batch, &len));
    CHECK(count_occurrences(batch, "\"messageType\":\"Job\"") == 1);
    CHECK_CONTAINS(batch, "\"data\":3");
    mc_string_free(batch);
    CHECK_OK(mc_subscription_take(hub, sub, 10, 0, &batch, &len));
    CHECK(count_occurrences(batch, "\"messageType\":\"Job\"") == 1);
    CHECK_CONTAINS(batch, "\"data\":2");
    mc_string_free(batch);

    /* One report for all three takes. */
    mc_delivery_report report = {.handled = 3};
    CHECK_OK(mc_subscription_complete(hub, sub, &report));
    CHECK_OK(mc_wait_idle(hub, 0));
    mc_hub_free(hub);
}

static void pull_subscription_takes_then_completes(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Jobs", NULL, 0));
    atomic_int notified;
    atomic_init(&notified, 0);
    const char *options = "{\"channel\":\"Jobs\",\"capacity\":50}";
    mc_id sub;
    CHECK_OK(mc_subscribe_pull(hub, options, strlen(options), on_notify, &notified, &sub));

    mc_id ids[3];
    CHECK_OK(publish(hub, "{\"channel\":\"Jobs\",\"messageType\":\"Job\",\"data\":1}", &ids[0]));
    CHECK_OK(publish(hub, "{\"channel\":\"Jobs\",\"messageType\":\"Job\",\"data\":2}", &ids[1]));
    CHECK_OK(publish(hub, "{\"channel\":\"Jobs\",\"messageType\":\"Job\",\"data\":3}", &ids[2]));
    CHECK(atomic_load(&notified) == 1); /* on the publishing thread, once until the next take */

    char *batch = NULL;
    size_t len = 0;
    CHECK_OK(mc_subscription_take(hub, sub, 2, 0, &batch, &len));
    CHECK(batch != NULL && len == strlen(batch) && batch[0] == '[');
    CHECK(count_occurrences(batch, "\"messageType\":\"Job\"") == 2);
    CHECK_CONTAINS(batch, "\"data\":1");
    CHECK_CONTAINS(batch, "\"data\":2");
    CHECK_NOT_CONTAINS(batch, "\"data\":3");
    mc_string_free(batch);

    /* Handed out but not completed: still in flight. */
    CHECK_STATUS(mc_wait_delivered(hub, ids[0], 20), MC_STATUS_TIMEOUT);

    batch = NULL;
    CHECK_OK(mc_subscription_take(hub, sub, 10, 0, &batch, &len));
    CHECK(count_occurrences(batch, "\"messageType\":\"Job\"") == 1);
    CHECK_CONTAINS(batch, "\"data\":3");
    mc_string_free(batch);

    mc_delivery_report report = {.handled = 2, .failed = 1, .filtered = 0, .last_error = "job 3 failed"};
    CHECK_OK(mc_subscription_complete(hub, sub, &report));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(mc_wait_delivered(hub, ids[i], 0));
    }

    char *json = NULL;
    CHECK_OK(mc_subscription_list(hub, NULL, &json));
    CHECK_CONTAINS(json, "\"mode\":\"Pull\"");
    CHECK_CONTAINS(json, "\"capacity\":50");
    CHECK_CONTAINS(json, "\"delivered\":2");
    CHECK_CONTAINS(json, "\"failed\":1");
    CHECK_CONTAINS(json, "\"queueLength\":0");
    CHECK_CONTAINS(json, "job 3 failed");
    mc_string_free(json);

    /* Empty queue: an empty array after the timeout. */
    batch = NULL;
    int64_t start = harness_now_ms();
    CHECK_OK(mc_subscription_take(hub, sub, 10, 30, &batch, &len));
    CHECK(harness_now_ms() - start >= 25);
    CHECK(batch != NULL && strcmp(batch, "[]") == 0 && len == 2);
    mc_string_free(batch);

    CHECK_OK(mc_unsubscribe(hub, sub));
    mc_hub_free(hub);
}

/* A take with a timeout returns as soon as a message arrives from another thread. */
typedef struct {
    const mc_hub *hub;
    atomic_int status;
} publisher_args;

static void *publish_later(void *arg) {
    publisher_args *p = arg;
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL); /* lets the take start waiting; the test does not depend on it */
    const char *m = "{\"channel\":\"Jobs\",\"messageType\":\"Late\"}";
    mc_id id;
    atomic_store(&p->status, (int)mc_publish(p->hub, m, strlen(m), &id));
    return NULL;
}

static void take_waits_for_a_message_from_another_thread(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Jobs", NULL, 0));
    const char *options = "{\"channel\":\"Jobs\"}";
    mc_id sub;
    CHECK_OK(mc_subscribe_pull(hub, options, strlen(options), NULL, NULL, &sub));
    publisher_args args = {.hub = hub};
    atomic_init(&args.status, -1);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, publish_later, &args) == 0);
    char *batch = NULL;
    size_t len = 0;
    CHECK_OK(mc_subscription_take(hub, sub, 10, WAIT_MS, &batch, &len));
    CHECK_CONTAINS(batch, "\"messageType\":\"Late\"");
    mc_string_free(batch);
    pthread_join(thread, NULL);
    CHECK(atomic_load(&args.status) == (int)MC_STATUS_OK);
    mc_delivery_report report = {.handled = 1};
    CHECK_OK(mc_subscription_complete(hub, sub, &report));
    CHECK_OK(mc_wait_idle(hub, WAIT_MS));
    mc_hub_free(hub);
}

static void an_expired_message_is_never_handed_out_and_is_counted(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Short", NULL, 0));
    const char *options = "{\"channel\":\"Short\"}";
    mc_id sub;
    CHECK_OK(mc_subscribe_pull(hub, options, strlen(options), NULL, NULL, &sub));
    mc_id expiring;
    CHECK_OK(publish(hub, "{\"channel\":\"Short\",\"messageType\":\"T\",\"ttlMs\":1,\"data\":\"gone\"}", &expiring));
    CHECK_OK(publish(hub, "{\"channel\":\"Short\",\"messageType\":\"T\",\"ttlMs\":null,\"data\":\"kept\"}", NULL));
    int64_t until = harness_now_ms() + 20; /* well past the 1 ms TTL, on any clock granularity */
    WAIT_UNTIL(harness_now_ms() >= until, 1000);
    char *batch = NULL;
    size_t len = 0;
    CHECK_OK(mc_subscription_take(hub, sub, 10, 0, &batch, &len));
    CHECK_NOT_CONTAINS(batch, "\"gone\"");
    CHECK_CONTAINS(batch, "\"kept\"");
    CHECK_CONTAINS(batch, "\"expiresAt\":null");
    mc_string_free(batch);
    CHECK_OK(mc_wait_delivered(hub, expiring, 0)); /* expiry completes it */
    char *json = NULL;
    CHECK_OK(mc_bus_stats(hub, &json));
    CHECK_CONTAINS(json, "\"expired\":1");
    mc_string_free(json);
    mc_hub_free(hub);
}

/* ----- listings and statistics -------------------------------------------------------------- */

static void subscription_list_and_bus_stats_describe_the_bus(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Configuration", NULL, 0));
    CHECK_OK(mc_channel_create(hub, "Alerts", NULL, 0));
    sink s;
    sink_init(&s);
    mc_id push_id;
    mc_id pull_id;
    CHECK_OK(subscribe_push(hub,
                            "{\"channel\":\"Config*\",\"messageType\":\"Config*\",\"capacity\":77,"
                            "\"overflow\":\"DropNewest\",\"sourceModule\":\"Core\"}",
                            &s, &push_id));
    const char *options = "{\"channel\":\"Alerts\",\"overflow\":\"Block\",\"blockTimeoutMs\":5}";
    CHECK_OK(mc_subscribe_pull(hub, options, strlen(options), NULL, NULL, &pull_id));

    char *json = NULL;
    char id[37];
    CHECK_OK(mc_subscription_list(hub, NULL, &json));
    id_text(&push_id, id);
    CHECK_CONTAINS(json, id);
    id_text(&pull_id, id);
    CHECK_CONTAINS(json, id);
    CHECK_CONTAINS(json, "\"channel\":\"Config*\"");
    CHECK_CONTAINS(json, "\"messageType\":\"Config*\"");
    CHECK_CONTAINS(json, "\"mode\":\"Push\"");
    CHECK_CONTAINS(json, "\"capacity\":77");
    CHECK_CONTAINS(json, "\"overflow\":\"DropNewest\"");
    CHECK_CONTAINS(json, "\"sourceModule\":\"Core\"");
    CHECK_CONTAINS(json, "\"channel\":\"Alerts\"");
    CHECK_CONTAINS(json, "\"mode\":\"Pull\"");
    CHECK_CONTAINS(json, "\"overflow\":\"Block\"");
    CHECK_CONTAINS(json, "\"blockTimeoutMs\":5");
    CHECK_CONTAINS(json, "\"lastError\":null");
    if (json != NULL) {
        const char *push = strstr(json, "\"mode\":\"Push\"");
        const char *pull = strstr(json, "\"mode\":\"Pull\"");
        CHECK(push != NULL && pull != NULL && push < pull); /* subscription order */
    }
    mc_string_free(json);

    json = NULL;
    CHECK_OK(mc_subscription_list(hub, "Alerts", &json));
    CHECK_CONTAINS(json, "\"channel\":\"Alerts\"");
    CHECK_NOT_CONTAINS(json, "Config*");
    mc_string_free(json);

    /* Two messages for the push subscription (one filtered by source module), one for pull. */
    CHECK_OK(publish(hub, "{\"channel\":\"Configuration\",\"messageType\":\"ConfigChanged\",\"sourceModule\":\"core\"}", NULL));
    CHECK_OK(publish(hub, "{\"channel\":\"Configuration\",\"messageType\":\"ConfigChanged\",\"sourceModule\":\"Other\"}", NULL));
    CHECK_OK(publish(hub, "{\"channel\":\"Alerts\",\"messageType\":\"Alarm\"}", NULL));
    CHECK_EVENTUALLY(atomic_load(&s.calls) == 1, WAIT_MS);

    json = NULL;
    CHECK_OK(mc_bus_stats(hub, &json));
    CHECK_CONTAINS(json, "\"channels\":2");
    CHECK_CONTAINS(json, "\"subscriptions\":2");
    CHECK_CONTAINS(json, "\"published\":3");
    CHECK_CONTAINS(json, "\"delivered\":1");
    CHECK_CONTAINS(json, "\"failed\":0");
    CHECK_CONTAINS(json, "\"dropped\":0");
    CHECK_CONTAINS(json, "\"queueLength\":1"); /* the Alarm waits for a take */
    CHECK_CONTAINS(json, "\"running\":true");
    mc_string_free(json);

    json = NULL;
    CHECK_OK(mc_channel_list(hub, "Configuration", &json));
    CHECK_CONTAINS(json, "\"subscriptions\":1");
    CHECK_CONTAINS(json, "\"published\":2");
    CHECK_CONTAINS(json, "\"delivered\":1");
    mc_string_free(json);

    CHECK_OK(mc_unsubscribe(hub, push_id));
    mc_hub_free(hub);
    sink_destroy(&s);
}

/* ----- configuration ------------------------------------------------------------------------ */

static void config_get_and_set(void) {
    mc_hub *hub = new_hub();
    char *json = NULL;
    CHECK_OK(mc_config_get(hub, &json));
    CHECK_CONTAINS(json, "\"maxMessageQueueSize\":10000");
    CHECK_CONTAINS(json, "\"processorInterval\":100");
    CHECK_CONTAINS(json, "\"defaultOverflow\":\"DropOldest\"");
    CHECK_CONTAINS(json, "\"blockTimeoutMs\":1000");
    CHECK_CONTAINS(json, "\"maxEventHistory\":1000");
    mc_string_free(json);

    const char *update = "{\"maxMessageQueueSize\":20000,\"defaultOverflow\":\"Reject\"}";
    CHECK_OK(mc_config_set(hub, update, strlen(update)));
    json = NULL;
    CHECK_OK(mc_config_get(hub, &json));
    CHECK_CONTAINS(json, "\"maxMessageQueueSize\":20000");
    CHECK_CONTAINS(json, "\"defaultOverflow\":\"Reject\"");
    CHECK_CONTAINS(json, "\"blockTimeoutMs\":1000"); /* merged, not replaced */
    mc_string_free(json);

    /* An unknown key fails naming it, and nothing changes (not even the valid key). */
    const char *bad = "{\"maxMessageQueueSize\":30000,\"noSuchSetting\":1}";
    CHECK_STATUS(mc_config_set(hub, bad, strlen(bad)), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("noSuchSetting");
    const char *out_of_range = "{\"maxMessageQueueSize\":0}";
    CHECK_STATUS(mc_config_set(hub, out_of_range, strlen(out_of_range)), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("maxMessageQueueSize");
    const char *bad_policy = "{\"defaultOverflow\":\"Sometimes\"}";
    CHECK_STATUS(mc_config_set(hub, bad_policy, strlen(bad_policy)), MC_STATUS_INVALID_ARGUMENT);
    json = NULL;
    CHECK_OK(mc_config_get(hub, &json));
    CHECK_CONTAINS(json, "\"maxMessageQueueSize\":20000");
    CHECK_CONTAINS(json, "\"defaultOverflow\":\"Reject\"");
    mc_string_free(json);

    /* New subscriptions follow the configuration. */
    CHECK_OK(mc_channel_create(hub, "Any", NULL, 0));
    const char *options = "{\"channel\":\"A*\"}";
    mc_id sub;
    CHECK_OK(mc_subscribe_pull(hub, options, strlen(options), NULL, NULL, &sub));
    json = NULL;
    CHECK_OK(mc_subscription_list(hub, NULL, &json));
    CHECK_CONTAINS(json, "\"capacity\":20000");
    CHECK_CONTAINS(json, "\"overflow\":\"Reject\"");
    mc_string_free(json);
    mc_hub_free(hub);
}

/* ----- processor ---------------------------------------------------------------------------- */

static void pause_holds_deliveries_and_resume_releases_them(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "News", NULL, 0));
    sink s;
    sink_init(&s);
    mc_id push;
    CHECK_OK(subscribe_push(hub, "{\"channel\":\"News\"}", &s, &push));
    const char *options = "{\"channel\":\"News\"}";
    mc_id pull;
    CHECK_OK(mc_subscribe_pull(hub, options, strlen(options), NULL, NULL, &pull));

    bool running = false;
    CHECK_OK(mc_processor_state(hub, &running));
    CHECK(running);
    CHECK_OK(mc_processor_pause(hub));
    running = true;
    CHECK_OK(mc_processor_state(hub, &running));
    CHECK(!running);
    char *json = NULL;
    CHECK_OK(mc_bus_stats(hub, &json));
    CHECK_CONTAINS(json, "\"running\":false");
    mc_string_free(json);

    mc_id id;
    CHECK_OK(publish(hub, "{\"channel\":\"News\",\"messageType\":\"Item\"}", &id));
    /* Paused: the message stays queued, so these waits must time out. */
    CHECK_STATUS(mc_wait_idle(hub, 30), MC_STATUS_TIMEOUT);
    CHECK_STATUS(mc_wait_delivered(hub, id, 1), MC_STATUS_TIMEOUT);
    CHECK(atomic_load(&s.calls) == 0);
    char *batch = NULL;
    size_t len = 0;
    CHECK_OK(mc_subscription_take(hub, pull, 10, 0, &batch, &len));
    CHECK(batch != NULL && strcmp(batch, "[]") == 0);
    mc_string_free(batch);
    json = NULL;
    CHECK_OK(mc_bus_stats(hub, &json));
    CHECK_CONTAINS(json, "\"queueLength\":2");
    mc_string_free(json);

    CHECK_OK(mc_processor_resume(hub));
    CHECK_OK(mc_processor_state(hub, &running));
    CHECK(running);
    CHECK_EVENTUALLY(atomic_load(&s.calls) == 1, WAIT_MS);
    batch = NULL;
    CHECK_OK(mc_subscription_take(hub, pull, 10, WAIT_MS, &batch, &len));
    CHECK(count_occurrences(batch, "\"messageType\":\"Item\"") == 1);
    mc_string_free(batch);
    mc_delivery_report report = {.handled = 1};
    CHECK_OK(mc_subscription_complete(hub, pull, &report));
    CHECK_OK(mc_wait_delivered(hub, id, WAIT_MS));
    CHECK_OK(mc_wait_idle(hub, WAIT_MS));
    mc_hub_free(hub);
    sink_destroy(&s);
}

static void waits_return_at_once_when_nothing_is_in_flight(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_wait_idle(hub, 0));
    mc_id never_published;
    memset(&never_published, 0x5a, sizeof never_published);
    CHECK_OK(mc_wait_delivered(hub, never_published, 0));
    /* A message nobody subscribed to is delivered at once. */
    CHECK_OK(mc_channel_create(hub, "Void", NULL, 0));
    mc_id id;
    CHECK_OK(publish(hub, "{\"channel\":\"Void\",\"messageType\":\"T\"}", &id));
    CHECK_OK(mc_wait_delivered(hub, id, 0));
    mc_hub_free(hub);
}

static void queue_clear_removes_queued_messages_of_matching_channels(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "ConfigA", NULL, 0));
    CHECK_OK(mc_channel_create(hub, "ConfigB", NULL, 0));
    CHECK_OK(mc_channel_create(hub, "Alerts", NULL, 0));
    const char *options = "{\"channel\":\"*\"}";
    mc_id sub;
    CHECK_OK(mc_subscribe_pull(hub, options, strlen(options), NULL, NULL, &sub));
    mc_id first;
    CHECK_OK(publish(hub, "{\"channel\":\"ConfigA\",\"messageType\":\"T\"}", &first));
    CHECK_OK(publish(hub, "{\"channel\":\"ConfigB\",\"messageType\":\"T\"}", NULL));
    CHECK_OK(publish(hub, "{\"channel\":\"ConfigB\",\"messageType\":\"T\"}", NULL));
    CHECK_OK(publish(hub, "{\"channel\":\"Alerts\",\"messageType\":\"Kept\"}", NULL));

    size_t cleared = 0;
    CHECK_OK(mc_queue_clear(hub, "config*", &cleared));
    CHECK(cleared == 3);
    CHECK_OK(mc_wait_delivered(hub, first, 0)); /* cleared counts as completed */
    CHECK_OK(mc_queue_clear(hub, "NoMatch", NULL));

    char *json = NULL;
    CHECK_OK(mc_bus_stats(hub, &json));
    CHECK_CONTAINS(json, "\"queueLength\":1");
    CHECK_CONTAINS(json, "\"dropped\":0"); /* clearing is not a loss */
    CHECK_CONTAINS(json, "\"cleared\":3"); /* but it is counted */
    mc_string_free(json);
    json = NULL;
    CHECK_OK(mc_channel_list(hub, NULL, &json));
    CHECK_CONTAINS(json, "\"name\":\"ConfigB\"");
    CHECK(count_occurrences(json, "\"cleared\":2") == 1 && count_occurrences(json, "\"cleared\":1") == 1);
    mc_string_free(json);

    char *batch = NULL;
    size_t len = 0;
    CHECK_OK(mc_subscription_take(hub, sub, 10, 0, &batch, &len));
    CHECK(count_occurrences(batch, "\"messageType\":") == 1);
    CHECK_CONTAINS(batch, "\"messageType\":\"Kept\"");
    mc_string_free(batch);
    mc_hub_free(hub);
}

/* ----- priorities and overflow -------------------------------------------------------------- */

static void take_returns_critical_then_high_then_normal_then_low_in_arrival_order(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Jobs", NULL, 0));
    const char *options = "{\"channel\":\"Jobs\"}";
    mc_id sub;
    CHECK_OK(mc_subscribe_pull(hub, options, strlen(options), NULL, NULL, &sub));
    static const char *const published[] = {
        "{\"channel\":\"Jobs\",\"messageType\":\"T\",\"priority\":\"Low\",\"data\":\"low-1\"}",
        "{\"channel\":\"Jobs\",\"messageType\":\"T\",\"data\":\"normal-1\"}",
        "{\"channel\":\"Jobs\",\"messageType\":\"T\",\"priority\":\"High\",\"data\":\"high-1\"}",
        "{\"channel\":\"Jobs\",\"messageType\":\"T\",\"priority\":\"Normal\",\"data\":\"normal-2\"}",
        "{\"channel\":\"Jobs\",\"messageType\":\"T\",\"priority\":\"CRITICAL\",\"data\":\"critical-1\"}",
        "{\"channel\":\"Jobs\",\"messageType\":\"T\",\"priority\":\"low\",\"data\":\"low-2\"}",
        "{\"channel\":\"Jobs\",\"messageType\":\"T\",\"priority\":\"High\",\"data\":\"high-2\"}",
    };
    for (size_t i = 0; i < sizeof published / sizeof published[0]; i++) {
        CHECK_OK(publish(hub, published[i], NULL));
    }
    static const char *const expected[] = {"\"critical-1\"", "\"high-1\"",   "\"high-2\"", "\"normal-1\"",
                                           "\"normal-2\"",   "\"low-1\"",    "\"low-2\""};
    char *batch = NULL;
    size_t len = 0;
    CHECK_OK(mc_subscription_take(hub, sub, 100, 0, &batch, &len));
    const char *cursor = batch;
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; i++) {
        const char *at = cursor ? strstr(cursor, expected[i]) : NULL;
        if (at == NULL) {
            harness_fail(__FILE__, __LINE__, expected[i]);
            printf("      (missing or out of order in %s)\n", batch ? batch : "(NULL)");
            break;
        }
        cursor = at + strlen(expected[i]);
    }
    mc_string_free(batch);
    mc_hub_free(hub);
}

static void drop_oldest_keeps_the_newest_and_counts_the_loss(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Small", NULL, 2));
    const char *options = "{\"channel\":\"Small\"}"; /* capacity 2 from the channel */
    mc_id sub;
    CHECK_OK(mc_subscribe_pull(hub, options, strlen(options), NULL, NULL, &sub));
    CHECK_OK(publish(hub, "{\"channel\":\"Small\",\"messageType\":\"T\",\"data\":\"m1\"}", NULL));
    CHECK_OK(publish(hub, "{\"channel\":\"Small\",\"messageType\":\"T\",\"data\":\"m2\"}", NULL));
    CHECK_OK(publish(hub, "{\"channel\":\"Small\",\"messageType\":\"T\",\"data\":\"m3\"}", NULL));
    char *batch = NULL;
    size_t len = 0;
    CHECK_OK(mc_subscription_take(hub, sub, 10, 0, &batch, &len));
    CHECK_NOT_CONTAINS(batch, "\"m1\"");
    CHECK_CONTAINS(batch, "\"m2\"");
    CHECK_CONTAINS(batch, "\"m3\"");
    mc_string_free(batch);
    char *json = NULL;
    CHECK_OK(mc_bus_stats(hub, &json));
    CHECK_CONTAINS(json, "\"dropped\":1");
    mc_string_free(json);
    mc_hub_free(hub);
}

static void reject_policy_returns_queue_full_and_still_writes_the_id(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Small", NULL, 0));
    const char *options = "{\"channel\":\"Small\",\"capacity\":1,\"overflow\":\"Reject\"}";
    mc_id sub;
    CHECK_OK(mc_subscribe_pull(hub, options, strlen(options), NULL, NULL, &sub));
    const char *other = "{\"channel\":\"Small\"}";
    mc_id other_sub;
    CHECK_OK(mc_subscribe_pull(hub, other, strlen(other), NULL, NULL, &other_sub));
    CHECK_OK(publish(hub, "{\"channel\":\"Small\",\"messageType\":\"T\"}", NULL));
    mc_id id;
    memset(&id, 0, sizeof id);
    mc_id zero;
    memset(&zero, 0, sizeof zero);
    CHECK_STATUS(publish(hub, "{\"channel\":\"Small\",\"messageType\":\"T\",\"data\":\"second\"}", &id),
                 MC_STATUS_QUEUE_FULL);
    CHECK(memcmp(&id, &zero, sizeof id) != 0);
    CHECK_LAST_ERROR_CONTAINS("Reject");
    char *batch = NULL;
    size_t len = 0;
    CHECK_OK(mc_subscription_take(hub, other_sub, 10, 0, &batch, &len));
    CHECK_CONTAINS(batch, "\"second\""); /* the other subscription got it */
    mc_string_free(batch);
    mc_hub_free(hub);
}

/* ----- last error --------------------------------------------------------------------------- */

static void last_error_is_set_by_a_failure_and_cleared_by_a_success(void) {
    mc_hub *hub = new_hub();
    CHECK_STATUS(mc_channel_create(hub, "", NULL, 0), MC_STATUS_INVALID_ARGUMENT);
    char *text = NULL;
    CHECK_OK(mc_last_error(&text));
    CHECK(text != NULL && strncmp(text, "mc_channel_create: ", strlen("mc_channel_create: ")) == 0);
    mc_string_free(text);

    CHECK_OK(mc_channel_create(hub, "Fine", NULL, 0));
    text = (char *)"sentinel";
    CHECK_OK(mc_last_error(&text));
    CHECK(text == NULL);
    mc_string_free(text);
    mc_hub_free(hub);
}

/* The last error belongs to the thread that failed. */
static void *fail_on_another_thread(void *arg) {
    mc_hub *hub = arg;
    mc_status status = mc_channel_create(hub, "", NULL, 0);
    (void)status;
    return NULL;
}

static void last_error_is_per_thread(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Fine", NULL, 0));
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, fail_on_another_thread, hub) == 0);
    pthread_join(thread, NULL);
    char *text = (char *)"sentinel";
    CHECK_OK(mc_last_error(&text));
    CHECK(text == NULL);
    mc_string_free(text);
    mc_hub_free(hub);
}

int main(void) {
    RUN_TEST(hub_new_and_free_work_and_free_of_null_is_harmless);
    RUN_TEST(hub_new_takes_a_partial_configuration);
    RUN_TEST(two_hubs_are_independent);
    RUN_TEST(channel_create_list_and_remove);
    RUN_TEST(removing_a_channel_clears_its_queued_messages);
    RUN_TEST(publish_delivers_the_json_message_to_a_push_callback_with_its_user_data);
    RUN_TEST(unsubscribe_stops_the_callback);
    RUN_TEST(a_callback_may_unsubscribe_itself);
    RUN_TEST(an_api_handler_that_a_callback_invoked_with_a_timeout_may_unsubscribe_that_callback);
    RUN_TEST(wait_idle_waits_for_the_callback_of_a_subscription_being_unsubscribed);
    RUN_TEST(a_callback_cannot_subscribe_once_the_hub_is_being_freed);
    RUN_TEST(a_callback_returning_false_counts_a_failure);
    RUN_TEST(a_subscription_may_precede_its_channel);
    RUN_TEST(pull_take_above_runs_what_arrived_more_urgent_before_the_rest);
    RUN_TEST(pull_subscription_takes_then_completes);
    RUN_TEST(take_waits_for_a_message_from_another_thread);
    RUN_TEST(an_expired_message_is_never_handed_out_and_is_counted);
    RUN_TEST(subscription_list_and_bus_stats_describe_the_bus);
    RUN_TEST(config_get_and_set);
    RUN_TEST(pause_holds_deliveries_and_resume_releases_them);
    RUN_TEST(waits_return_at_once_when_nothing_is_in_flight);
    RUN_TEST(queue_clear_removes_queued_messages_of_matching_channels);
    RUN_TEST(take_returns_critical_then_high_then_normal_then_low_in_arrival_order);
    RUN_TEST(drop_oldest_keeps_the_newest_and_counts_the_loss);
    RUN_TEST(reject_policy_returns_queue_full_and_still_writes_the_id);
    RUN_TEST(last_error_is_set_by_a_failure_and_cleared_by_a_success);
    RUN_TEST(last_error_is_per_thread);
    return harness_summary();
}
