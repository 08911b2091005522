/* tests/c/test_events.c: the event system through the C ABI, as a C program uses it.
 *
 * Publishing, wildcard subscriptions with a callback and with pull takes, broadcast to the
 * message channels, the history (query as a JSON array, clear, export and import in both
 * formats, the ring bound), persistence through eventHistoryPath (reload, torn last line,
 * corrupt file), replay, and every bad argument of the event functions. Files go to a
 * private folder under /tmp, removed at the end. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAIT_MS 10000

static char folder[256];

/* ----- helpers ------------------------------------------------------------------------------ */

static mc_hub *new_hub(void) {
    mc_hub *hub = NULL;
    CHECK_OK(mc_hub_new(NULL, 0, &hub));
    CHECK(hub != NULL);
    return hub;
}

static mc_status publish_event(const mc_hub *hub, const char *json, mc_id *out_id) {
    mc_id ignored;
    return mc_event_publish(hub, json, strlen(json), out_id ? out_id : &ignored);
}

/* A path in this run's folder. */
static const char *file_in_folder(const char *name, char *out, size_t size) {
    snprintf(out, size, "%s/%s", folder, name);
    return out;
}

static mc_status set_history_path(const mc_hub *hub, const char *path) {
    char json[512];
    snprintf(json, sizeof json, "{\"eventHistoryPath\":\"%s\"}", path);
    return mc_config_set(hub, json, strlen(json));
}

/* The history as JSON (the caller frees it), optionally filtered by a query. */
static char *history(const mc_hub *hub, const char *query) {
    char *json = NULL;
    size_t len = 0;
    CHECK_OK(mc_event_history(hub, query, query ? strlen(query) : 0, &json, &len));
    CHECK(json != NULL && strlen(json) == len);
    return json;
}

/* The id in its text form (lowercase, hyphenated), as the library prints it in JSON. */
static void id_text(const mc_id *id, char out[37]) {
    const uint8_t *b = id->bytes;
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

static size_t file_lines(const char *path) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) return 0;
    size_t n = 0;
    for (int c; (c = fgetc(f)) != EOF;) {
        if (c == '\n') n++;
    }
    fclose(f);
    return n;
}

static void append_to_file(const char *path, const char *text) {
    FILE *f = fopen(path, "ab");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

/* What a push callback saw. */
typedef struct {
    atomic_int calls;
    pthread_mutex_t lock;
    char names[2048];
} sink;

static void sink_init(sink *s) {
    atomic_init(&s->calls, 0);
    pthread_mutex_init(&s->lock, NULL);
    s->names[0] = '\0';
}

static void sink_destroy(sink *s) { pthread_mutex_destroy(&s->lock); }

/* Appends the event's name (the text after "name":) and a space. */
static bool on_event(void *user_data, const char *json, size_t len) {
    sink *s = user_data;
    (void)len;
    const char *name = strstr(json, "\"name\":\"");
    pthread_mutex_lock(&s->lock);
    if (name != NULL) {
        name += 8;
        size_t n = strcspn(name, "\"");
        size_t used = strlen(s->names);
        if (used + n + 2 < sizeof s->names) {
            memcpy(s->names + used, name, n);
            s->names[used + n] = ' ';
            s->names[used + n + 1] = '\0';
        }
    }
    pthread_mutex_unlock(&s->lock);
    atomic_fetch_add(&s->calls, 1);
    return true;
}

static bool ignore_event(void *user_data, const char *json, size_t len) {
    (void)user_data;
    (void)json;
    (void)len;
    return true;
}

/* ----- publish and subscribe ---------------------------------------------------------------- */

static void a_wildcard_subscription_gets_matching_events_with_their_json(void) {
    mc_hub *hub = new_hub();
    sink s;
    sink_init(&s);
    const char *options = "{\"name\":\"module*\"}";
    mc_id sub;
    CHECK_OK(mc_event_subscribe(hub, options, strlen(options), on_event, &s, &sub));

    mc_id id;
    CHECK_OK(publish_event(hub,
                           "{\"name\":\"ModuleInitialized\",\"data\":{\"ModuleName\":\"LabRunner\",\"Version\":\"1.0.0\"},"
                           "\"sourceModule\":\"LabRunner\",\"priority\":\"high\"}",
                           &id));
    CHECK_OK(publish_event(hub, "{\"name\":\"ConfigurationChanged\"}", NULL));
    CHECK_OK(publish_event(hub, "{\"name\":\"ModuleStopped\"}", NULL));
    CHECK_OK(mc_wait_idle(hub, WAIT_MS));
    CHECK(atomic_load(&s.calls) == 2);
    pthread_mutex_lock(&s.lock);
    CHECK(strcmp(s.names, "ModuleInitialized ModuleStopped ") == 0);
    pthread_mutex_unlock(&s.lock);

    char *json = history(hub, "{\"name\":\"ModuleInitialized\"}");
    CHECK(json != NULL && json[0] == '[');
    CHECK_CONTAINS(json, "\"name\":\"ModuleInitialized\"");
    CHECK_CONTAINS(json, "\"channel\":\"Events\"");
    CHECK_CONTAINS(json, "\"data\":{\"ModuleName\":\"LabRunner\",\"Version\":\"1.0.0\"}");
    CHECK_CONTAINS(json, "\"sourceModule\":\"LabRunner\"");
    CHECK_CONTAINS(json, "\"priority\":\"High\"");
    CHECK_NOT_CONTAINS(json, "messageType");
    mc_string_free(json);

    /* Event subscriptions are listed with their kind; event channels are not channels. */
    CHECK_OK(mc_subscription_list(hub, NULL, &json));
    CHECK_CONTAINS(json, "\"kind\":\"Event\"");
    CHECK_CONTAINS(json, "\"messageType\":\"module*\"");
    mc_string_free(json);
    CHECK_OK(mc_channel_list(hub, NULL, &json));
    CHECK(json != NULL && strcmp(json, "[]") == 0);
    mc_string_free(json);

    CHECK_OK(mc_unsubscribe(hub, sub));
    mc_hub_free(hub);
    sink_destroy(&s);
}

static void a_pull_subscription_replays_history_then_takes_live_events(void) {
    mc_hub *hub = new_hub();
    for (int i = 0; i < 5; i++) {
        char event[96];
        snprintf(event, sizeof event, "{\"name\":\"LabStep%d\",\"data\":%d,\"channel\":\"Lab\"}", i, i);
        CHECK_OK(publish_event(hub, event, NULL));
    }
    const char *options = "{\"name\":\"LabStep*\",\"channel\":\"lab\",\"replay\":2}";
    mc_id sub;
    CHECK_OK(mc_event_subscribe_pull(hub, options, strlen(options), NULL, NULL, &sub));
    CHECK_OK(publish_event(hub, "{\"name\":\"LabStepLive\",\"channel\":\"Lab\"}", NULL));
    CHECK_OK(publish_event(hub, "{\"name\":\"LabStepElsewhere\"}", NULL)); /* channel Events */

    char *json = NULL;
    size_t len = 0;
    CHECK_OK(mc_subscription_take(hub, sub, 100, 0, &json, &len));
    CHECK(json != NULL && strlen(json) == len);
    CHECK(count_occurrences(json, "\"name\":") == 3);
    const char *a = json ? strstr(json, "LabStep3") : NULL;
    const char *b = json ? strstr(json, "LabStep4") : NULL;
    const char *c = json ? strstr(json, "LabStepLive") : NULL;
    CHECK(a != NULL && b != NULL && c != NULL && a < b && b < c);
    mc_string_free(json);
    mc_delivery_report report = {3, 0, 0, NULL};
    CHECK_OK(mc_subscription_complete(hub, sub, &report));
    CHECK_OK(mc_wait_idle(hub, WAIT_MS));
    CHECK_OK(mc_unsubscribe(hub, sub));
    mc_hub_free(hub);
}

static void broadcast_reaches_every_message_channel_as_a_message_with_the_event_id(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Configuration", NULL, 0));
    CHECK_OK(mc_channel_create(hub, "Lab", NULL, 0));
    const char *options = "{\"channel\":\"*\",\"messageType\":\"SystemShutdown\"}";
    mc_id sub;
    CHECK_OK(mc_subscribe_pull(hub, options, strlen(options), NULL, NULL, &sub));
    mc_id id;
    CHECK_OK(publish_event(hub, "{\"name\":\"SystemShutdown\",\"data\":{\"Reason\":\"Maintenance\"},\"broadcast\":true}", &id));

    char *json = NULL;
    size_t len = 0;
    CHECK_OK(mc_subscription_take(hub, sub, 100, 0, &json, &len));
    CHECK(count_occurrences(json, "\"messageType\":\"SystemShutdown\"") == 2);
    CHECK(count_occurrences(json, "\"data\":{\"Reason\":\"Maintenance\"}") == 2);
    CHECK_CONTAINS(json, "\"channel\":\"Configuration\"");
    CHECK_CONTAINS(json, "\"channel\":\"Lab\"");
    char text[37];
    id_text(&id, text);
    CHECK(count_occurrences(json, text) == 2);
    mc_string_free(json);
    /* Waiting for the event's id waits for its message copies too. */
    CHECK_STATUS(mc_wait_delivered(hub, id, 1), MC_STATUS_TIMEOUT);
    mc_delivery_report report = {2, 0, 0, NULL};
    CHECK_OK(mc_subscription_complete(hub, sub, &report));
    CHECK_OK(mc_wait_delivered(hub, id, WAIT_MS));
    mc_hub_free(hub);
}

/* ----- history -------------------------------------------------------------------------------- */

static void the_history_keeps_the_newest_max_event_history_events(void) {
    const char *config = "{\"maxEventHistory\":10}";
    mc_hub *hub = NULL;
    CHECK_OK(mc_hub_new(config, strlen(config), &hub));
    for (int i = 0; i < 25; i++) {
        char event[64];
        snprintf(event, sizeof event, "{\"name\":\"Tick\",\"data\":%d}", i);
        CHECK_OK(publish_event(hub, event, NULL));
    }
    char *json = history(hub, NULL);
    CHECK(count_occurrences(json, "\"name\":\"Tick\"") == 10);
    CHECK_CONTAINS(json, "\"data\":15,");
    CHECK_CONTAINS(json, "\"data\":24,");
    CHECK_NOT_CONTAINS(json, "\"data\":14,");
    mc_string_free(json);

    json = history(hub, "{\"last\":3}");
    CHECK(count_occurrences(json, "\"name\"") == 3);
    CHECK_CONTAINS(json, "\"data\":22,");
    mc_string_free(json);

    char *info = NULL;
    CHECK_OK(mc_event_history_info(hub, &info));
    CHECK_CONTAINS(info, "\"count\":10");
    CHECK_CONTAINS(info, "\"capacity\":10");
    CHECK_CONTAINS(info, "\"path\":null");
    mc_string_free(info);
    mc_hub_free(hub);
}

static void clear_removes_matching_events_and_reports_the_count(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(publish_event(hub, "{\"name\":\"LabStepStarted\"}", NULL));
    CHECK_OK(publish_event(hub, "{\"name\":\"ConfigChanged\"}", NULL));
    CHECK_OK(publish_event(hub, "{\"name\":\"LabStepDone\"}", NULL));
    const char *query = "{\"name\":\"labstep*\"}";
    size_t cleared = 0;
    CHECK_OK(mc_event_history_clear(hub, query, strlen(query), &cleared));
    CHECK(cleared == 2);
    char *json = history(hub, NULL);
    CHECK(count_occurrences(json, "\"name\"") == 1);
    CHECK_CONTAINS(json, "ConfigChanged");
    mc_string_free(json);
    CHECK_OK(mc_event_history_clear(hub, NULL, 0, NULL));
    json = history(hub, NULL);
    CHECK(json != NULL && strcmp(json, "[]") == 0);
    mc_string_free(json);
    mc_hub_free(hub);
}

static void export_and_import_round_trip_in_both_formats(void) {
    const unsigned formats[2] = {MC_HISTORY_FORMAT_JSON_LINES, MC_HISTORY_FORMAT_CSV};
    const char *names[2] = {"export.jsonl", "export.csv"};
    for (int f = 0; f < 2; f++) {
        mc_hub *hub = new_hub();
        CHECK_OK(publish_event(hub,
                               "{\"name\":\"Fidelity\",\"data\":{\"Text\":\"a, \\\"b\\\"\\nc\",\"Ratio\":1.10},"
                               "\"typeHints\":[[[\"Ratio\"],\"decimal\"]],\"sourceModule\":\"Exporter\"}",
                               NULL));
        CHECK_OK(publish_event(hub, "{\"name\":\"Skipped\"}", NULL));
        char path[512];
        file_in_folder(names[f], path, sizeof path);
        const char *query = "{\"name\":\"Fid*\"}";
        size_t written = 0;
        CHECK_OK(mc_event_history_export(hub, path, formats[f], query, strlen(query), &written));
        CHECK(written == 1);
        char *before = history(hub, query);

        mc_hub *other = new_hub();
        char *report = NULL;
        CHECK_OK(mc_event_history_import(other, path, formats[f], &report));
        CHECK_CONTAINS(report, "\"read\":1");
        CHECK_CONTAINS(report, "\"imported\":1");
        CHECK_CONTAINS(report, "\"duplicates\":0");
        mc_string_free(report);
        char *after = history(other, NULL);
        CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
        CHECK_CONTAINS(after, "\"Ratio\":1.10");
        mc_string_free(before);
        mc_string_free(after);
        mc_hub_free(other);
        mc_hub_free(hub);
    }
}

/* ----- persistence ---------------------------------------------------------------------------- */

static void a_history_file_is_written_per_event_and_reloaded_by_a_new_hub(void) {
    char path[512];
    file_in_folder("history.jsonl", path, sizeof path);
    mc_hub *hub = new_hub();
    CHECK_OK(set_history_path(hub, path));
    for (int i = 0; i < 3; i++) {
        CHECK_OK(publish_event(hub, "{\"name\":\"Saved\",\"data\":{\"n\":1}}", NULL));
        CHECK(file_lines(path) == (size_t)i + 1);
    }
    char *before = history(hub, NULL);
    mc_hub_free(hub);

    char config[600];
    snprintf(config, sizeof config, "{\"eventHistoryPath\":\"%s\"}", path);
    mc_hub *again = NULL;
    CHECK_OK(mc_hub_new(config, strlen(config), &again));
    char *after = history(again, NULL);
    CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
    char *info = NULL;
    CHECK_OK(mc_event_history_info(again, &info));
    CHECK_CONTAINS(info, "\"count\":3");
    CHECK_CONTAINS(info, "\"loadWarnings\":[]");
    CHECK(info != NULL && strstr(info, path) != NULL);
    mc_string_free(info);
    mc_string_free(before);
    mc_string_free(after);
    mc_hub_free(again);
}

static void a_torn_last_line_is_skipped_with_a_warning(void) {
    char path[512];
    file_in_folder("torn.jsonl", path, sizeof path);
    mc_hub *hub = new_hub();
    CHECK_OK(set_history_path(hub, path));
    CHECK_OK(publish_event(hub, "{\"name\":\"Kept\"}", NULL));
    CHECK_OK(publish_event(hub, "{\"name\":\"Kept\"}", NULL));
    mc_hub_free(hub);
    append_to_file(path, "{\"id\":\"1b4e28ba-2fa1-41d2-883f-0016d3cca427\",\"name\":\"Tor");

    hub = new_hub();
    CHECK_OK(set_history_path(hub, path));
    char *info = NULL;
    CHECK_OK(mc_event_history_info(hub, &info));
    CHECK_CONTAINS(info, "\"count\":2");
    CHECK_CONTAINS(info, "torn last line");
    mc_string_free(info);
    CHECK(file_lines(path) == 2);
    CHECK_OK(publish_event(hub, "{\"name\":\"After\"}", NULL));
    CHECK(file_lines(path) == 3);
    mc_hub_free(hub);
}

static void a_corrupt_history_file_is_refused_and_nothing_changes(void) {
    char path[512];
    file_in_folder("corrupt.jsonl", path, sizeof path);
    append_to_file(path, "not json at all\n");
    append_to_file(path, "{}\n");
    mc_hub *hub = new_hub();
    CHECK_STATUS(set_history_path(hub, path), MC_STATUS_CORRUPT_FILE);
    CHECK_LAST_ERROR_CONTAINS("line 1");
    char *config = NULL;
    CHECK_OK(mc_config_get(hub, &config));
    CHECK_CONTAINS(config, "\"eventHistoryPath\":null");
    mc_string_free(config);
    CHECK(file_lines(path) == 2);

    char json[600];
    snprintf(json, sizeof json, "{\"eventHistoryPath\":\"%s\"}", path);
    mc_hub *refused = (mc_hub *)(void *)json;
    CHECK_STATUS(mc_hub_new(json, strlen(json), &refused), MC_STATUS_CORRUPT_FILE);
    CHECK(refused == (mc_hub *)(void *)json);
    mc_hub_free(hub);
}

static void the_rotated_part_of_the_hubs_own_history_file_is_refused_as_such(void) {
    char path[512], rotated[520], config[700];
    file_in_folder("rotating.jsonl", path, sizeof path);
    snprintf(rotated, sizeof rotated, "%s.1", path);
    snprintf(config, sizeof config, "{\"eventHistoryPath\":\"%s\",\"eventHistoryMaxBytes\":600}", path);
    mc_hub *hub = NULL;
    CHECK_OK(mc_hub_new(config, strlen(config), &hub));
    for (int i = 0; i < 5; i++) {
        CHECK_OK(publish_event(hub, "{\"name\":\"E\"}", NULL));
    }
    struct stat rotated_stat;
    CHECK(stat(rotated, &rotated_stat) == 0); /* the file rotated */
    /* Only this hub uses the file: the message says what is wrong, not that another hub does. */
    CHECK_STATUS(set_history_path(hub, rotated), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("rotated part ('.1') of");
    CHECK_LAST_ERROR_CONTAINS("the event history file this hub writes to");
    CHECK_LAST_ERROR_CONTAINS("choose another path");
    char *info = NULL;
    CHECK_OK(mc_event_history_info(hub, &info));
    char expected[600];
    snprintf(expected, sizeof expected, "\"path\":\"%s\"", path);
    CHECK(info != NULL && strstr(info, expected) != NULL); /* nothing changed */
    mc_string_free(info);
    mc_hub_free(hub);
}

/* ----- bad arguments -------------------------------------------------------------------------- */

static void bad_arguments_get_their_status_and_leave_out_parameters_alone(void) {
    mc_hub *hub = new_hub();
    mc_id id;
    memset(&id, 0xAB, sizeof id);
    mc_id sentinel = id;
    static char untouched[] = "untouched";
    char *text = untouched;
    size_t n = 0xC0FFEE;
    const char *ok_event = "{\"name\":\"X\"}";
    const char *ok_options = "{\"name\":\"X\"}";

    CHECK_STATUS(mc_event_publish(NULL, ok_event, strlen(ok_event), &id), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_event_publish(hub, NULL, 0, &id), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_event_publish(hub, ok_event, strlen(ok_event), NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(publish_event(hub, "{\"name\":\"\"}", &id), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("event name");
    CHECK_STATUS(publish_event(hub, "{\"name\":\"X\",\"channel\":\"Ev*\"}", &id), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(publish_event(hub, "{\"name\":\"X\",\"priority\":\"Urgent\"}", &id), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(publish_event(hub, "{\"name\":\"X\",\"ttlMs\":5}", &id), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(publish_event(hub, "[\"X\"]", &id), MC_STATUS_INVALID_JSON);
    CHECK_STATUS(publish_event(hub, "{\"name\":", &id), MC_STATUS_INVALID_JSON);
    const char bad_utf8[] = "{\"name\":\"\xff\"}";
    CHECK_STATUS(mc_event_publish(hub, bad_utf8, strlen(bad_utf8), &id), MC_STATUS_INVALID_UTF8);
    CHECK(memcmp(&id, &sentinel, sizeof id) == 0);

    CHECK_STATUS(mc_event_subscribe(NULL, ok_options, strlen(ok_options), ignore_event, NULL, &id), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_event_subscribe(hub, ok_options, strlen(ok_options), NULL, NULL, &id), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_event_subscribe(hub, ok_options, strlen(ok_options), ignore_event, NULL, NULL), MC_STATUS_NULL_ARGUMENT);
    const char *bad_pattern = "{\"name\":\"Lab[\"}";
    CHECK_STATUS(mc_event_subscribe(hub, bad_pattern, strlen(bad_pattern), ignore_event, NULL, &id), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("Lab[");
    const char *bad_since = "{\"since\":\"yesterday\"}";
    CHECK_STATUS(mc_event_subscribe_pull(hub, bad_since, strlen(bad_since), NULL, NULL, &id), MC_STATUS_INVALID_ARGUMENT);
    const char *unknown_key = "{\"name\":\"X\",\"channels\":\"*\"}";
    CHECK_STATUS(mc_event_subscribe_pull(hub, unknown_key, strlen(unknown_key), NULL, NULL, &id), MC_STATUS_INVALID_ARGUMENT);
    const char *bad_replay = "{\"replay\":-1}";
    CHECK_STATUS(mc_event_subscribe_pull(hub, bad_replay, strlen(bad_replay), NULL, NULL, &id), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("invalid replay '-1': use a whole number of 0 or more");
    CHECK(memcmp(&id, &sentinel, sizeof id) == 0);

    CHECK_STATUS(mc_event_history(NULL, NULL, 0, &text, &n), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_event_history(hub, NULL, 0, NULL, &n), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_event_history(hub, NULL, 0, &text, NULL), MC_STATUS_NULL_ARGUMENT);
    const char *bad_query = "{\"last\":-1}";
    CHECK_STATUS(mc_event_history(hub, bad_query, strlen(bad_query), &text, &n), MC_STATUS_INVALID_ARGUMENT);
    CHECK(strcmp(text, "untouched") == 0 && n == 0xC0FFEE);

    CHECK_STATUS(mc_event_history_clear(NULL, NULL, 0, &n), MC_STATUS_NULL_ARGUMENT);
    const char *bad_clear = "{\"name\":\"[\"}";
    CHECK_STATUS(mc_event_history_clear(hub, bad_clear, strlen(bad_clear), &n), MC_STATUS_INVALID_ARGUMENT);
    CHECK(n == 0xC0FFEE);

    char path[512];
    file_in_folder("never.jsonl", path, sizeof path);
    CHECK_STATUS(mc_event_history_export(hub, NULL, MC_HISTORY_FORMAT_CSV, NULL, 0, &n), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_event_history_export(hub, path, 7, NULL, 0, &n), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("MC_HISTORY_FORMAT_CSV");
    CHECK_STATUS(mc_event_history_export(hub, "/nonexistent-folder/x.jsonl", 0, NULL, 0, &n), MC_STATUS_IO);
    CHECK_LAST_ERROR_CONTAINS("the folder '/nonexistent-folder' does not exist; create it or choose another path");
    CHECK_STATUS(mc_event_history_export(hub, "", 0, NULL, 0, &n), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("the path is empty");
    CHECK_STATUS(mc_event_history_import(hub, "", 0, &text), MC_STATUS_INVALID_ARGUMENT);
    CHECK(n == 0xC0FFEE);
    CHECK(access(path, F_OK) != 0);

    CHECK_STATUS(mc_event_history_import(hub, path, MC_HISTORY_FORMAT_JSON_LINES, &text), MC_STATUS_IO);
    CHECK_STATUS(mc_event_history_import(hub, path, 2, &text), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_event_history_import(hub, path, 0, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_event_history_info(hub, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_event_history_info(NULL, &text), MC_STATUS_NULL_ARGUMENT);
    CHECK(strcmp(text, "untouched") == 0);

    CHECK_STATUS(set_history_path(hub, "/nonexistent-folder/history.jsonl"), MC_STATUS_IO);
    const char *bad_path = "{\"eventHistoryPath\":5}";
    CHECK_STATUS(mc_config_set(hub, bad_path, strlen(bad_path)), MC_STATUS_INVALID_ARGUMENT);
    const char *bad_size = "{\"eventHistoryMaxBytes\":-1}";
    CHECK_STATUS(mc_config_set(hub, bad_size, strlen(bad_size)), MC_STATUS_INVALID_ARGUMENT);

    /* After all of that, the hub works. */
    char *json = history(hub, NULL);
    CHECK(json != NULL && strcmp(json, "[]") == 0);
    mc_string_free(json);
    CHECK_OK(publish_event(hub, ok_event, &id));
    CHECK(memcmp(&id, &sentinel, sizeof id) != 0);
    mc_hub_free(hub);
}

/* ----- giving up a blocked publish ---------------------------------------------------------- */

typedef struct {
    const mc_hub *hub;
    uint32_t cancel; /* the flag mc_event_publish_cancellable reads */
    atomic_int status;
} blocked_publisher;

static void *publish_into_full_queue(void *arg) {
    blocked_publisher *p = arg;
    const char *e = "{\"name\":\"Second\"}";
    mc_id id;
    atomic_store(&p->status, (int)mc_event_publish_cancellable(p->hub, e, strlen(e), &p->cancel, &id));
    return NULL;
}

/* Whether the bus has counted `count` publishes (events count as they are routed). */
static int published(const mc_hub *hub, const char *count) {
    char *stats = NULL;
    CHECK_OK(mc_bus_stats(hub, &stats));
    int found = stats != NULL && strstr(stats, count) != NULL;
    mc_string_free(stats);
    return found;
}

static void a_cancelled_event_publish_stops_waiting_for_a_full_block_queue(void) {
    mc_hub *hub = new_hub();
    const char *options = "{\"name\":\"*\",\"capacity\":1,\"overflow\":\"Block\",\"blockTimeoutMs\":600000}";
    mc_id sub;
    CHECK_OK(mc_event_subscribe_pull(hub, options, strlen(options), NULL, NULL, &sub));
    CHECK_OK(publish_event(hub, "{\"name\":\"First\"}", NULL));
    blocked_publisher p = {.hub = hub, .cancel = 0};
    atomic_init(&p.status, -1);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, publish_into_full_queue, &p) == 0);
    /* Counted as published: the publisher is at the full queue (or waiting there). */
    WAIT_UNTIL(published(hub, "\"published\":2"), WAIT_MS);
    __atomic_store_n(&p.cancel, 1, __ATOMIC_RELEASE);
    CHECK_OK(mc_wake_blocked_publishers(hub));
    /* The block timeout is 10 minutes: returning before WAIT_MS means the cancel ended it. */
    WAIT_UNTIL(atomic_load(&p.status) != -1, WAIT_MS);
    CHECK(atomic_load(&p.status) == (int)MC_STATUS_OK);
    if (atomic_load(&p.status) == -1) CHECK_OK(mc_unsubscribe(hub, sub)); /* releases it, so the test ends */
    pthread_join(thread, NULL);
    char *subs = NULL;
    CHECK_OK(mc_subscription_list(hub, NULL, &subs));
    CHECK_CONTAINS(subs, "\"dropped\":1");
    mc_string_free(subs);
    mc_hub_free(hub);
}

int main(void) {
    snprintf(folder, sizeof folder, "/tmp/mc-c-events-%ld", (long)getpid());
    if (mkdir(folder, 0700) != 0) {
        printf("cannot create %s\n", folder);
        return 1;
    }
    RUN_TEST(a_wildcard_subscription_gets_matching_events_with_their_json);
    RUN_TEST(a_pull_subscription_replays_history_then_takes_live_events);
    RUN_TEST(broadcast_reaches_every_message_channel_as_a_message_with_the_event_id);
    RUN_TEST(the_history_keeps_the_newest_max_event_history_events);
    RUN_TEST(clear_removes_matching_events_and_reports_the_count);
    RUN_TEST(export_and_import_round_trip_in_both_formats);
    RUN_TEST(a_history_file_is_written_per_event_and_reloaded_by_a_new_hub);
    RUN_TEST(a_torn_last_line_is_skipped_with_a_warning);
    RUN_TEST(a_corrupt_history_file_is_refused_and_nothing_changes);
    RUN_TEST(the_rotated_part_of_the_hubs_own_history_file_is_refused_as_such);
    RUN_TEST(a_cancelled_event_publish_stops_waiting_for_a_full_block_queue);
    RUN_TEST(bad_arguments_get_their_status_and_leave_out_parameters_alone);
    const char *files[] = {"export.jsonl", "export.csv", "history.jsonl", "torn.jsonl", "corrupt.jsonl",
                           "rotating.jsonl", "rotating.jsonl.1", "rotating.jsonl.lock"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[512];
        unlink(file_in_folder(files[i], path, sizeof path));
    }
    rmdir(folder);
    return harness_summary();
}
