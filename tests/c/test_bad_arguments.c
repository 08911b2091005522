/* tests/c/test_bad_arguments.c: every bad argument gets its documented status, never a crash.
 *
 * NULL hubs, NULL out-pointers and strings, invalid UTF-8, malformed JSON and JSON of the
 * wrong shape, unknown and duplicate channels, unknown and unsubscribed subscription ids,
 * out-of-range values. Out-parameters are pre-filled with sentinels and must be untouched
 * after a failure. All tests share one hub; the last test checks that it still works. */
#include "harness.h"

#include <stdatomic.h>

static mc_hub *hub; /* shared by every test, on purpose */

/* ----- sentinels ---------------------------------------------------------------------------- */

static char untouched_text[] = "untouched";
#define TEXT_SENTINEL untouched_text
#define SIZE_SENTINEL ((size_t)0xC0FFEE)
#define HUB_SENTINEL ((mc_hub *)(void *)untouched_text)

static mc_id id_sentinel(void) {
    mc_id id;
    memset(&id, 0xAB, sizeof id);
    return id;
}

static bool id_untouched(const mc_id *id) {
    mc_id s = id_sentinel();
    return memcmp(id, &s, sizeof s) == 0;
}

static mc_id random_id(unsigned char seed) {
    mc_id id;
    for (size_t i = 0; i < sizeof id.bytes; i++) {
        id.bytes[i] = (uint8_t)(seed * 31u + i * 7u);
    }
    id.bytes[6] = (uint8_t)((id.bytes[6] & 0x0f) | 0x40); /* looks like a v4 UUID */
    return id;
}

/* Publishing through JSON given as a C string (its length from strlen). */
static mc_status publish_text(const char *json, mc_id *out_id) { return mc_publish(hub, json, strlen(json), out_id); }

static bool ignore_message(void *user_data, const char *json, size_t len) {
    (void)user_data;
    (void)json;
    (void)len;
    return true;
}

static mc_status subscribe_text(const char *options, mc_id *out_id) {
    return mc_subscribe(hub, options, strlen(options), ignore_message, NULL, out_id);
}

static mc_status subscribe_pull_text(const char *options, mc_id *out_id) {
    return mc_subscribe_pull(hub, options, strlen(options), NULL, NULL, out_id);
}

/* A push (or pull) subscribe that must fail with `expected` and leave the id untouched.
 * Should it succeed, the subscription is removed again, so that one failure does not
 * spill into the following tests. */
static void check_subscribe_fails(bool push, const char *options, mc_status expected, const char *file, int line) {
    mc_id id = id_sentinel();
    mc_status got = push ? subscribe_text(options, &id) : subscribe_pull_text(options, &id);
    if (got != expected) {
        char msg[1400];
        snprintf(msg, sizeof msg, "%s subscribe with %s returned %u, expected %u; last error: %s", push ? "push" : "pull",
                 options, (unsigned)got, (unsigned)expected, harness_last_error());
        harness_fail(file, line, msg);
    }
    if (got == MC_STATUS_OK) {
        (void)mc_unsubscribe(hub, id);
    } else if (!id_untouched(&id)) {
        harness_fail(file, line, "the id was written by a failed subscribe");
    }
}
#define CHECK_PUSH_FAILS(options, expected) check_subscribe_fails(true, (options), (expected), __FILE__, __LINE__)
#define CHECK_PULL_FAILS(options, expected) check_subscribe_fails(false, (options), (expected), __FILE__, __LINE__)

/* The hub's totals still say `fragment` (checks that a failed call changed nothing). */
static void check_stats_contain(const char *fragment, int line) {
    char *json = NULL;
    if (mc_bus_stats(hub, &json) != MC_STATUS_OK || json == NULL || strstr(json, fragment) == NULL) {
        char msg[512];
        snprintf(msg, sizeof msg, "bus stats %s do not contain %s", json ? json : "(NULL)", fragment);
        harness_fail(__FILE__, line, msg);
    }
    mc_string_free(json);
}
#define CHECK_STATS_CONTAIN(fragment) check_stats_contain((fragment), __LINE__)

/* The bus's "published" total, or -1. */
static long long published_total(void) {
    char *json = NULL;
    long long n = -1;
    if (mc_bus_stats(hub, &json) == MC_STATUS_OK && json != NULL) {
        const char *at = strstr(json, "\"published\":");
        if (at != NULL) {
            n = strtoll(at + strlen("\"published\":"), NULL, 10);
        }
    }
    mc_string_free(json);
    return n;
}

/* ----- NULL hub ----------------------------------------------------------------------------- */

static void a_null_hub_is_refused_by_every_function(void) {
    char *text = TEXT_SENTINEL;
    size_t size = SIZE_SENTINEL;
    mc_id id = id_sentinel();
    bool running = true;
    const mc_id any = random_id(1);
    const char *message = "{\"channel\":\"X\",\"messageType\":\"T\"}";
    const char *options = "{\"channel\":\"X\"}";
    const mc_delivery_report report = {0};

    CHECK_STATUS(mc_config_get(NULL, &text), MC_STATUS_NULL_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("hub");
    CHECK_STATUS(mc_config_set(NULL, "{}", 2), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_channel_create(NULL, "X", NULL, 0), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_channel_list(NULL, NULL, &text), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_channel_remove(NULL, "X", &size), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_publish(NULL, message, strlen(message), &id), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_subscribe(NULL, options, strlen(options), ignore_message, NULL, &id), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_subscribe_pull(NULL, options, strlen(options), NULL, NULL, &id), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_subscription_take(NULL, any, 1, 0, &text, &size), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_subscription_take_above(NULL, any, 1, MC_PRIORITY_LOW, &text, &size), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_subscription_complete(NULL, any, &report), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_unsubscribe(NULL, any), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_subscription_list(NULL, NULL, &text), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_queue_clear(NULL, "*", &size), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_processor_pause(NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_processor_resume(NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_processor_state(NULL, &running), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_wait_delivered(NULL, any, 0), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_wait_idle(NULL, 0), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_bus_stats(NULL, &text), MC_STATUS_NULL_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("mc_bus_stats");

    CHECK(text == TEXT_SENTINEL);
    CHECK(size == SIZE_SENTINEL);
    CHECK(id_untouched(&id));
    CHECK(running);
}

/* ----- NULL out-pointers and strings -------------------------------------------------------- */

static void null_out_pointers_are_refused_and_nothing_happens(void) {
    const long long published_before = published_total();
    CHECK_OK(mc_channel_create(hub, "NullOut", NULL, 0));
    char *text = TEXT_SENTINEL;
    size_t size = SIZE_SENTINEL;
    const char *message = "{\"channel\":\"NullOut\",\"messageType\":\"T\"}";
    const char *options = "{\"channel\":\"NullOut\"}";

    CHECK_STATUS(mc_hub_new(NULL, 0, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("out_hub");
    CHECK_STATUS(mc_last_error(NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_config_get(hub, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_channel_list(hub, NULL, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_subscription_list(hub, NULL, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_bus_stats(hub, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_processor_state(hub, NULL), MC_STATUS_NULL_ARGUMENT);

    /* A publish or subscribe without somewhere to put the id does not happen at all. */
    CHECK_STATUS(mc_publish(hub, message, strlen(message), NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("out_id");
    CHECK_STATUS(mc_subscribe(hub, options, strlen(options), ignore_message, NULL, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_subscribe_pull(hub, options, strlen(options), NULL, NULL, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK(published_total() == published_before);
    CHECK_STATS_CONTAIN("\"subscriptions\":0");

    /* take: each of its two out-pointers. */
    mc_id sub;
    CHECK_OK(subscribe_pull_text(options, &sub));
    CHECK_STATUS(mc_subscription_take(hub, sub, 1, 0, NULL, &size), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_subscription_take(hub, sub, 1, 0, &text, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_subscription_take_above(hub, sub, 1, MC_PRIORITY_LOW, NULL, &size), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_subscription_take_above(hub, sub, 1, MC_PRIORITY_LOW, &text, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK(text == TEXT_SENTINEL);
    CHECK(size == SIZE_SENTINEL);
    CHECK_STATUS(mc_subscription_complete(hub, sub, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("report");
    CHECK_OK(mc_unsubscribe(hub, sub));
    CHECK_OK(mc_channel_remove(hub, "NullOut", NULL));
}

static void null_strings_are_refused(void) {
    mc_id id = id_sentinel();
    size_t size = SIZE_SENTINEL;
    CHECK_STATUS(mc_channel_create(hub, NULL, "description", 0), MC_STATUS_NULL_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("name");
    CHECK_STATUS(mc_channel_remove(hub, NULL, &size), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_queue_clear(hub, NULL, &size), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_config_set(hub, NULL, 10), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_publish(hub, NULL, 10, &id), MC_STATUS_NULL_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("message_json");
    CHECK_STATUS(mc_subscribe(hub, NULL, 10, ignore_message, NULL, &id), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_subscribe_pull(hub, NULL, 10, NULL, NULL, &id), MC_STATUS_NULL_ARGUMENT);
    CHECK(size == SIZE_SENTINEL);
    CHECK(id_untouched(&id));

    /* A NULL callback is refused; a NULL notify is allowed. */
    CHECK_OK(mc_channel_create(hub, "NullStrings", NULL, 0));
    const char *options = "{\"channel\":\"NullStrings\"}";
    CHECK_STATUS(mc_subscribe(hub, options, strlen(options), NULL, NULL, &id), MC_STATUS_NULL_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("callback");
    CHECK(id_untouched(&id));
    CHECK_STATS_CONTAIN("\"subscriptions\":0");

    /* The nullable ones: description, patterns, the hub configuration (length ignored). */
    CHECK_OK(mc_channel_create(hub, "NullDescription", NULL, 0));
    char *text = NULL;
    CHECK_OK(mc_channel_list(hub, NULL, &text));
    mc_string_free(text);
    text = NULL;
    CHECK_OK(mc_subscription_list(hub, NULL, &text));
    mc_string_free(text);
    mc_hub *other = NULL;
    CHECK_OK(mc_hub_new(NULL, 12345, &other));
    mc_hub_free(other);
    CHECK_OK(mc_channel_remove(hub, "NullDescription", NULL));
    CHECK_OK(mc_channel_remove(hub, "NullStrings", NULL));
}

static void freeing_null_does_nothing(void) {
    mc_string_free(NULL);
    mc_hub_free(NULL);
    char *text = TEXT_SENTINEL;
    CHECK_OK(mc_config_get(hub, &text)); /* the hub is unaffected */
    CHECK(text != TEXT_SENTINEL);
    mc_string_free(text);
}

/* ----- invalid UTF-8 ------------------------------------------------------------------------ */

static void invalid_utf8_is_refused_everywhere(void) {
    const long long published_before = published_total();
    CHECK_OK(mc_channel_create(hub, "Utf8", NULL, 0));
    char *text = TEXT_SENTINEL;
    size_t size = SIZE_SENTINEL;
    mc_id id = id_sentinel();

    CHECK_STATUS(mc_channel_create(hub, "\xff", NULL, 0), MC_STATUS_INVALID_UTF8);
    CHECK_LAST_ERROR_CONTAINS("name");
    CHECK_STATUS(mc_channel_create(hub, "Bad\xc0\x80Overlong", NULL, 0), MC_STATUS_INVALID_UTF8);
    CHECK_STATUS(mc_channel_create(hub, "Surrogate\xed\xa0\x80", NULL, 0), MC_STATUS_INVALID_UTF8);
    CHECK_STATUS(mc_channel_create(hub, "Fine", "desc\xff", 0), MC_STATUS_INVALID_UTF8);
    CHECK_LAST_ERROR_CONTAINS("description");
    CHECK_STATUS(mc_channel_list(hub, "\xff", &text), MC_STATUS_INVALID_UTF8);
    CHECK_STATUS(mc_channel_remove(hub, "Utf8\xff", &size), MC_STATUS_INVALID_UTF8);
    CHECK_STATUS(mc_subscription_list(hub, "\xfe", &text), MC_STATUS_INVALID_UTF8);
    CHECK_STATUS(mc_queue_clear(hub, "\xff*", &size), MC_STATUS_INVALID_UTF8);

    CHECK_STATUS(publish_text("{\"channel\":\"Utf8\",\"messageType\":\"\xff\"}", &id), MC_STATUS_INVALID_UTF8);
    CHECK_STATUS(publish_text("{\"channel\":\"Utf8\",\"messageType\":\"T\",\"data\":\"\xc3\"}", &id),
                 MC_STATUS_INVALID_UTF8);
    CHECK_PUSH_FAILS("{\"channel\":\"Utf8\xff\"}", MC_STATUS_INVALID_UTF8);
    CHECK_PULL_FAILS("{\"channel\":\"\xff\"}", MC_STATUS_INVALID_UTF8);
    const char *config = "{\"maxMessageQueueSize\":\"\xff\"}";
    CHECK_STATUS(mc_config_set(hub, config, strlen(config)), MC_STATUS_INVALID_UTF8);
    mc_hub *other = HUB_SENTINEL;
    CHECK_STATUS(mc_hub_new(config, strlen(config), &other), MC_STATUS_INVALID_UTF8);
    CHECK(other == HUB_SENTINEL);

    mc_id sub;
    CHECK_OK(subscribe_pull_text("{\"channel\":\"Utf8\"}", &sub));
    mc_delivery_report report = {.handled = 0, .last_error = "broken \xff text"};
    CHECK_STATUS(mc_subscription_complete(hub, sub, &report), MC_STATUS_INVALID_UTF8);
    CHECK_LAST_ERROR_CONTAINS("last_error");

    CHECK(text == TEXT_SENTINEL);
    CHECK(size == SIZE_SENTINEL);
    CHECK(id_untouched(&id));
    CHECK(published_total() == published_before);
    CHECK_OK(mc_unsubscribe(hub, sub));
    CHECK_OK(mc_channel_remove(hub, "Utf8", NULL));
}

/* ----- malformed JSON and JSON of the wrong shape ------------------------------------------- */

static void malformed_json_is_refused(void) {
    CHECK_OK(mc_channel_create(hub, "Json", NULL, 0));
    mc_id id = id_sentinel();
    static const char *const broken[] = {
        "",     "{",    "[]",    "null",  "42", "\"text\"", "{\"channel\":\"Json\",\"messageType\":\"T\"}x",
        "{\"channel\":\"Json\",\"messageType\":\"T\",}", "{'channel':'Json','messageType':'T'}",
    };
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
        CHECK_STATUS(publish_text(broken[i], &id), MC_STATUS_INVALID_JSON);
    }
    CHECK_LAST_ERROR_CONTAINS("mc_publish");

    /* The length is what counts, not the NUL: a complete object cut short is malformed... */
    const char *whole = "{\"channel\":\"Json\",\"messageType\":\"T\"}";
    CHECK_STATUS(mc_publish(hub, whole, strlen(whole) - 1, &id), MC_STATUS_INVALID_JSON);
    CHECK_STATUS(mc_publish(hub, whole, 0, &id), MC_STATUS_INVALID_JSON);
    CHECK(id_untouched(&id));
    /* ...and bytes after `len` are never read. */
    const char *with_tail = "{\"channel\":\"Json\",\"messageType\":\"T\"}garbage";
    CHECK_OK(mc_publish(hub, with_tail, strlen(whole), &id));

    const char *options = "{\"channel\":";
    CHECK_PUSH_FAILS(options, MC_STATUS_INVALID_JSON);
    CHECK_PULL_FAILS("\"Json\"", MC_STATUS_INVALID_JSON);
    CHECK_STATUS(mc_config_set(hub, "{", 1), MC_STATUS_INVALID_JSON);
    CHECK_STATUS(mc_config_set(hub, "[1]", 3), MC_STATUS_INVALID_JSON);
    CHECK_LAST_ERROR_CONTAINS("mc_config_set");
    mc_hub *other = HUB_SENTINEL;
    CHECK_STATUS(mc_hub_new("{\"maxMessageQueueSize\":", 23, &other), MC_STATUS_INVALID_JSON);
    CHECK(other == HUB_SENTINEL);
    CHECK_STATS_CONTAIN("\"subscriptions\":0");
    CHECK_OK(mc_channel_remove(hub, "Json", NULL));
}

static void messages_of_the_wrong_shape_are_refused(void) {
    const long long published_before = published_total();
    CHECK_OK(mc_channel_create(hub, "Shape", NULL, 0));
    mc_id id = id_sentinel();
    /* A missing required key: INVALID_JSON. */
    CHECK_STATUS(publish_text("{\"messageType\":\"T\"}", &id), MC_STATUS_INVALID_JSON);
    CHECK_LAST_ERROR_CONTAINS("the key 'channel' is missing");
    CHECK_STATUS(publish_text("{\"channel\":\"Shape\"}", &id), MC_STATUS_INVALID_JSON);
    CHECK_LAST_ERROR_CONTAINS("messageType");

    /* An unknown key, a value of the wrong type or out of range: INVALID_ARGUMENT naming the key
     * (the status table lists "bad priority" and "unknown key"). */
    CHECK_STATUS(publish_text("{\"channel\":\"Shape\",\"messageType\":\"T\",\"color\":\"red\"}", &id),
                 MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("color");
    CHECK_STATUS(publish_text("{\"channel\":7,\"messageType\":\"T\"}", &id), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(publish_text("{\"channel\":\"Shape\",\"messageType\":[\"T\"]}", &id), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(publish_text("{\"channel\":\"Shape\",\"messageType\":\"T\",\"ttlMs\":-1}", &id),
                 MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("invalid ttlMs '-1'");
    CHECK_STATUS(publish_text("{\"channel\":\"Shape\",\"messageType\":\"T\",\"ttlMs\":\"soon\"}", &id),
                 MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(publish_text("{\"channel\":\"Shape\",\"messageType\":\"T\",\"priority\":4}", &id),
                 MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("Low, Normal, High or Critical");
    CHECK_STATUS(publish_text("{\"channel\":\"Shape\",\"messageType\":\"T\",\"priority\":\"Urgent\"}", &id),
                 MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("Urgent");
    CHECK_STATUS(publish_text("{\"channel\":\"Shape\",\"messageType\":\"\"}", &id), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(publish_text("{\"channel\":\"Shape\",\"messageType\":\"T\",\"ttlMs\":0}", &id),
                 MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(publish_text("{\"channel\":\"Shape\",\"messageType\":\"T\",\"sourceModule\":\"\"}", &id),
                 MC_STATUS_INVALID_ARGUMENT);
    CHECK(id_untouched(&id));
    CHECK(published_total() == published_before);
    CHECK_OK(mc_channel_remove(hub, "Shape", NULL));
}

/* The contract asks for objects with named keys; an array of the same values in field
 * order is the wrong shape, however a deserializer could read it. */
static void a_json_array_is_not_an_object(void) {
    CHECK_OK(mc_channel_create(hub, "Arrays", NULL, 0));
    const long long published_before = published_total();
    mc_id id = id_sentinel();
    CHECK_STATUS(publish_text("[\"Arrays\",\"T\"]", &id), MC_STATUS_INVALID_JSON);
    CHECK(id_untouched(&id));
    CHECK(published_total() == published_before);
    CHECK_PULL_FAILS("[\"Arrays\"]", MC_STATUS_INVALID_JSON);
    CHECK_PUSH_FAILS("[\"Arrays\",\"*\"]", MC_STATUS_INVALID_JSON);
    CHECK_OK(mc_channel_remove(hub, "Arrays", NULL));
}

static void subscription_options_of_the_wrong_shape_are_refused(void) {
    CHECK_OK(mc_channel_create(hub, "Options", NULL, 0));
    mc_id id = id_sentinel();
    CHECK_PUSH_FAILS("{}", MC_STATUS_INVALID_JSON);
    CHECK_PUSH_FAILS("{\"messageType\":\"*\"}", MC_STATUS_INVALID_JSON);
    CHECK_PUSH_FAILS("{\"channel\":\"Options\",\"queue\":5}", MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("queue");
    CHECK_PUSH_FAILS("{\"channel\":\"Options\",\"capacity\":-1}", MC_STATUS_INVALID_ARGUMENT);
    CHECK_PULL_FAILS("{\"channel\":\"Options\",\"capacity\":\"many\"}", MC_STATUS_INVALID_ARGUMENT);

    CHECK_PUSH_FAILS("{\"channel\":\"Options\",\"capacity\":0}", MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("capacity");
    CHECK_PULL_FAILS("{\"channel\":\"Options\",\"capacity\":100000001}", MC_STATUS_INVALID_ARGUMENT);
    CHECK_PUSH_FAILS("{\"channel\":\"Options\",\"overflow\":\"Sometimes\"}", MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("Sometimes");
    CHECK_PULL_FAILS("{\"channel\":\"\"}", MC_STATUS_INVALID_ARGUMENT);
    CHECK_PULL_FAILS("{\"channel\":\"[a-\"}", MC_STATUS_INVALID_ARGUMENT);
    CHECK_PULL_FAILS("{\"channel\":\"Options\",\"messageType\":\"\"}", MC_STATUS_INVALID_ARGUMENT);
    CHECK_PULL_FAILS("{\"channel\":\"Options\",\"blockTimeoutMs\":3600001}", MC_STATUS_INVALID_ARGUMENT);
    CHECK(id_untouched(&id));
    CHECK_STATS_CONTAIN("\"subscriptions\":0");
    CHECK_OK(mc_channel_remove(hub, "Options", NULL));
}

static void bad_configuration_values_are_refused_and_change_nothing(void) {
    char *before = NULL;
    CHECK_OK(mc_config_get(hub, &before));
    static const char *const bad[] = {
        "{\"unknownSetting\":1}",
        "{\"maxMessageQueueSize\":0}",
        "{\"maxMessageQueueSize\":-5}",
        "{\"maxMessageQueueSize\":\"big\"}",
        "{\"maxMessageQueueSize\":100000001}",
        "{\"blockTimeoutMs\":3600001}",
        "{\"defaultOverflow\":\"Never\"}",
        "{\"defaultOverflow\":3}",
        "{\"maxMessageQueueSize\":5,\"processorInterval\":0}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STATUS(mc_config_set(hub, bad[i], strlen(bad[i])), MC_STATUS_INVALID_ARGUMENT);
    }
    char *after = NULL;
    CHECK_OK(mc_config_get(hub, &after));
    CHECK(before != NULL && after != NULL && strcmp(before, after) == 0);
    mc_string_free(before);
    mc_string_free(after);

    mc_hub *other = HUB_SENTINEL;
    CHECK_STATUS(mc_hub_new(bad[0], strlen(bad[0]), &other), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("unknownSetting");
    CHECK(other == HUB_SENTINEL);
}

/* ----- channels ----------------------------------------------------------------------------- */

static void publishing_to_an_unknown_channel_says_how_to_create_it(void) {
    const long long published_before = published_total();
    mc_id id = id_sentinel();
    CHECK_STATUS(publish_text("{\"channel\":\"NoSuchChannel\",\"messageType\":\"T\"}", &id),
                 MC_STATUS_CHANNEL_NOT_FOUND);
    CHECK(id_untouched(&id));
    char *text = NULL;
    CHECK_OK(mc_last_error(&text));
    CHECK_CONTAINS(text, "NoSuchChannel");
    CHECK_CONTAINS(text, "New-MessageChannel");
    CHECK_CONTAINS(text, "mc_channel_create");
    mc_string_free(text);

    size_t cleared = SIZE_SENTINEL;
    CHECK_STATUS(mc_channel_remove(hub, "NoSuchChannel", &cleared), MC_STATUS_CHANNEL_NOT_FOUND);
    CHECK(cleared == SIZE_SENTINEL);
    CHECK(published_total() == published_before);
}

static void bad_channel_names_are_refused(void) {
    static const char *const bad[] = {"", "Wild*", "Question?", "[Set]", "Back`tick", "Tab\there", "Line\nFeed"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_STATUS(mc_channel_create(hub, bad[i], NULL, 0), MC_STATUS_INVALID_ARGUMENT);
    }
    char longest[258];
    memset(longest, 'n', 257);
    longest[257] = '\0';
    CHECK_STATUS(mc_channel_create(hub, longest, NULL, 0), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("256");
    longest[256] = '\0';
    CHECK_OK(mc_channel_create(hub, longest, NULL, 0)); /* 256 characters is allowed */
    CHECK_OK(mc_channel_remove(hub, longest, NULL));
    CHECK_STATUS(mc_channel_create(hub, "TooBig", NULL, SIZE_MAX), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATS_CONTAIN("\"channels\":0");
}

static void a_duplicate_channel_is_refused_ignoring_case(void) {
    CHECK_OK(mc_channel_create(hub, "Orders", "first", 10));
    CHECK_STATUS(mc_channel_create(hub, "ORDERS", "second", 20), MC_STATUS_CHANNEL_EXISTS);
    CHECK_LAST_ERROR_CONTAINS("Orders");
    CHECK_STATUS(mc_channel_create(hub, "Orders", NULL, 0), MC_STATUS_CHANNEL_EXISTS);
    char *json = NULL;
    CHECK_OK(mc_channel_list(hub, "orders", &json));
    CHECK_CONTAINS(json, "\"description\":\"first\"");
    CHECK_CONTAINS(json, "\"maxMessages\":10");
    mc_string_free(json);
    CHECK_OK(mc_channel_remove(hub, "Orders", NULL));
}

static void bad_patterns_are_refused(void) {
    char *text = TEXT_SENTINEL;
    size_t size = SIZE_SENTINEL;
    CHECK_STATUS(mc_channel_list(hub, "[a-", &text), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_subscription_list(hub, "Open[", &text), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_queue_clear(hub, "[", &size), MC_STATUS_INVALID_ARGUMENT);
    CHECK(text == TEXT_SENTINEL);
    CHECK(size == SIZE_SENTINEL);
}

/* ----- subscription ids --------------------------------------------------------------------- */

static void unknown_and_unsubscribed_ids_are_not_found(void) {
    CHECK_OK(mc_channel_create(hub, "Ids", NULL, 0));
    mc_id pull;
    mc_id push;
    CHECK_OK(subscribe_pull_text("{\"channel\":\"Ids\"}", &pull));
    CHECK_OK(subscribe_text("{\"channel\":\"Ids\"}", &push));
    CHECK_OK(mc_unsubscribe(hub, pull));
    CHECK_OK(mc_unsubscribe(hub, push));

    mc_id never;
    memset(&never, 0, sizeof never);
    const mc_id ids[] = {pull, push, never, random_id(9)};
    const mc_delivery_report report = {.handled = 0};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        char *text = TEXT_SENTINEL;
        size_t size = SIZE_SENTINEL;
        CHECK_STATUS(mc_unsubscribe(hub, ids[i]), MC_STATUS_SUBSCRIPTION_NOT_FOUND);
        CHECK_STATUS(mc_subscription_take(hub, ids[i], 10, 0, &text, &size), MC_STATUS_SUBSCRIPTION_NOT_FOUND);
        CHECK_STATUS(mc_subscription_complete(hub, ids[i], &report), MC_STATUS_SUBSCRIPTION_NOT_FOUND);
        CHECK(text == TEXT_SENTINEL);
        CHECK(size == SIZE_SENTINEL);
    }
    CHECK_LAST_ERROR_CONTAINS("mc_subscription_list");
    CHECK_OK(mc_channel_remove(hub, "Ids", NULL));
}

static void take_and_complete_refuse_misuse(void) {
    CHECK_OK(mc_channel_create(hub, "Misuse", NULL, 0));
    mc_id pull;
    mc_id push;
    CHECK_OK(subscribe_pull_text("{\"channel\":\"Misuse\"}", &pull));
    CHECK_OK(subscribe_text("{\"channel\":\"Misuse\",\"messageType\":\"NeverSent\"}", &push));
    char *text = TEXT_SENTINEL;
    size_t size = SIZE_SENTINEL;
    const mc_delivery_report none = {0};

    CHECK_STATUS(mc_subscription_take(hub, pull, 0, 0, &text, &size), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_subscription_take(hub, push, 1, 0, &text, &size), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("push");
    CHECK_STATUS(mc_subscription_take_above(hub, pull, 0, MC_PRIORITY_LOW, &text, &size), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_subscription_take_above(hub, push, 1, MC_PRIORITY_LOW, &text, &size), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_subscription_take_above(hub, pull, 1, MC_PRIORITY_CRITICAL + 1, &text, &size), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("above_priority");
    CHECK_STATUS(mc_subscription_complete(hub, push, &none), MC_STATUS_INVALID_ARGUMENT);
    CHECK(text == TEXT_SENTINEL);
    CHECK(size == SIZE_SENTINEL);

    /* Reporting more than was handed out is refused, and the messages stay handed out. */
    mc_id message;
    CHECK_OK(publish_text("{\"channel\":\"Misuse\",\"messageType\":\"T\"}", &message));
    CHECK_OK(mc_subscription_take(hub, pull, 10, 0, &text, &size));
    CHECK(text != TEXT_SENTINEL);
    mc_string_free(text);
    const mc_delivery_report too_many = {.handled = 1, .failed = 1};
    CHECK_STATUS(mc_subscription_complete(hub, pull, &too_many), MC_STATUS_INVALID_ARGUMENT);
    const mc_delivery_report overflowing = {.handled = SIZE_MAX, .failed = SIZE_MAX, .filtered = SIZE_MAX};
    CHECK_STATUS(mc_subscription_complete(hub, pull, &overflowing), MC_STATUS_INVALID_ARGUMENT);
    CHECK_STATUS(mc_wait_delivered(hub, message, 0), MC_STATUS_TIMEOUT);
    const mc_delivery_report right = {.handled = 1};
    CHECK_OK(mc_subscription_complete(hub, pull, &right));
    CHECK_OK(mc_wait_delivered(hub, message, 0));

    CHECK_OK(mc_unsubscribe(hub, pull));
    CHECK_OK(mc_unsubscribe(hub, push));
    CHECK_OK(mc_channel_remove(hub, "Misuse", NULL));
}

/* ----- the last error ----------------------------------------------------------------------- */

/* A value holding a NUL (JSON "\u0000") must not cost the caller the explanation. */
static void the_last_error_survives_a_nul_in_the_offending_value(void) {
    const char *config = "{\"bad\\u0000key\":1}";
    CHECK_STATUS(mc_config_set(hub, config, strlen(config)), MC_STATUS_INVALID_ARGUMENT);
    char *text = NULL;
    CHECK_OK(mc_last_error(&text));
    CHECK(text != NULL);
    CHECK_CONTAINS(text, "mc_config_set");
    mc_string_free(text);

    mc_id id = id_sentinel();
    CHECK_STATUS(publish_text("{\"channel\":\"No\\u0000Such\",\"messageType\":\"T\"}", &id),
                 MC_STATUS_CHANNEL_NOT_FOUND);
    text = NULL;
    CHECK_OK(mc_last_error(&text));
    CHECK(text != NULL);
    CHECK_CONTAINS(text, "mc_channel_create");
    mc_string_free(text);
}

/* ----- afterwards --------------------------------------------------------------------------- */

static atomic_int delivered;

static bool count_message(void *user_data, const char *json, size_t len) {
    (void)user_data;
    if (len == strlen(json) && strstr(json, "\"messageType\":\"Check\"") != NULL) {
        atomic_fetch_add(&delivered, 1);
    }
    return true;
}

static void the_hub_still_works_after_all_of_them(void) {
    char *json = NULL;
    CHECK_OK(mc_bus_stats(hub, &json));
    CHECK_CONTAINS(json, "\"channels\":0");
    CHECK_CONTAINS(json, "\"subscriptions\":0");
    CHECK_CONTAINS(json, "\"running\":true");
    mc_string_free(json);

    CHECK_OK(mc_channel_create(hub, "After", NULL, 0));
    const char *options = "{\"channel\":\"After\"}";
    mc_id push;
    mc_id pull;
    CHECK_OK(mc_subscribe(hub, options, strlen(options), count_message, NULL, &push));
    CHECK_OK(subscribe_pull_text(options, &pull));
    mc_id id;
    CHECK_OK(publish_text("{\"channel\":\"After\",\"messageType\":\"Check\",\"data\":{\"ok\":true}}", &id));
    char *batch = NULL;
    size_t len = 0;
    CHECK_OK(mc_subscription_take(hub, pull, 10, 10000, &batch, &len));
    CHECK_CONTAINS(batch, "\"data\":{\"ok\":true}");
    mc_string_free(batch);
    const mc_delivery_report report = {.handled = 1};
    CHECK_OK(mc_subscription_complete(hub, pull, &report));
    CHECK_OK(mc_wait_delivered(hub, id, 10000));
    CHECK(atomic_load(&delivered) == 1);
    json = NULL;
    CHECK_OK(mc_channel_list(hub, "After", &json));
    CHECK_CONTAINS(json, "\"delivered\":2");
    mc_string_free(json);
    CHECK_OK(mc_unsubscribe(hub, push));
    CHECK_OK(mc_unsubscribe(hub, pull));
}

int main(void) {
    atomic_init(&delivered, 0);
    if (mc_hub_new(NULL, 0, &hub) != MC_STATUS_OK || hub == NULL) {
        printf("mc_hub_new failed: %s\n", harness_last_error());
        printf("C: 0 passed, 1 failed\n");
        return 1;
    }
    RUN_TEST(a_null_hub_is_refused_by_every_function);
    RUN_TEST(null_out_pointers_are_refused_and_nothing_happens);
    RUN_TEST(null_strings_are_refused);
    RUN_TEST(freeing_null_does_nothing);
    RUN_TEST(invalid_utf8_is_refused_everywhere);
    RUN_TEST(malformed_json_is_refused);
    RUN_TEST(messages_of_the_wrong_shape_are_refused);
    RUN_TEST(a_json_array_is_not_an_object);
    RUN_TEST(subscription_options_of_the_wrong_shape_are_refused);
    RUN_TEST(bad_configuration_values_are_refused_and_change_nothing);
    RUN_TEST(publishing_to_an_unknown_channel_says_how_to_create_it);
    RUN_TEST(bad_channel_names_are_refused);
    RUN_TEST(a_duplicate_channel_is_refused_ignoring_case);
    RUN_TEST(bad_patterns_are_refused);
    RUN_TEST(unknown_and_unsubscribed_ids_are_not_found);
    RUN_TEST(take_and_complete_refuse_misuse);
    RUN_TEST(the_last_error_survives_a_nul_in_the_offending_value);
    RUN_TEST(the_hub_still_works_after_all_of_them);
    mc_hub_free(hub);
    return harness_summary();
}
