/* tests/c/test_throughput.c: a C program publishes 100,000 messages to two C push
 * subscribers and none is lost.
 *
 * One subscriber has room for every message (capacity 100,000); the other has a small
 * queue with the Block policy, so the publisher waits for it instead of dropping. Both
 * must see every message exactly once and in publishing order (one publisher, one
 * priority), and the bus statistics must agree with the callbacks' counters. */
#include "harness.h"

#include <stdatomic.h>

#define MESSAGES 100000
#define WAIT_MS (240 * 1000) /* generous: the test also runs under valgrind */

typedef struct {
    atomic_long calls;
    atomic_long out_of_order;
    atomic_long unparsable;
    long next_seq; /* touched only by the subscription's worker, never concurrently */
} counter;

static bool on_message(void *user_data, const char *json, size_t len) {
    counter *c = user_data;
    const char *at = strstr(json, "\"seq\":");
    if (at == NULL || len != strlen(json)) {
        atomic_fetch_add(&c->unparsable, 1);
    } else {
        long seq = strtol(at + strlen("\"seq\":"), NULL, 10);
        if (seq != c->next_seq) {
            atomic_fetch_add(&c->out_of_order, 1);
        }
        c->next_seq = seq + 1;
    }
    atomic_fetch_add(&c->calls, 1);
    return true;
}

static void counter_init(counter *c) {
    atomic_init(&c->calls, 0);
    atomic_init(&c->out_of_order, 0);
    atomic_init(&c->unparsable, 0);
    c->next_seq = 0;
}

static size_t count_occurrences(const char *text, const char *fragment) {
    size_t n = 0;
    for (const char *p = text; p != NULL && (p = strstr(p, fragment)) != NULL; p += strlen(fragment)) {
        n++;
    }
    return n;
}

static mc_hub *hub;
static counter roomy;
static counter blocking;
static mc_id roomy_id;
static mc_id blocking_id;

static void every_message_reaches_both_subscribers_in_order(void) {
    CHECK_OK(mc_channel_create(hub, "Load", "throughput test", 0));
    const char *roomy_options = "{\"channel\":\"Load\",\"capacity\":100000}";
    const char *blocking_options = "{\"channel\":\"Load\",\"capacity\":1000,\"overflow\":\"Block\",\"blockTimeoutMs\":600000}";
    CHECK_OK(mc_subscribe(hub, roomy_options, strlen(roomy_options), on_message, &roomy, &roomy_id));
    CHECK_OK(mc_subscribe(hub, blocking_options, strlen(blocking_options), on_message, &blocking, &blocking_id));

    char json[256];
    long failures = 0;
    int64_t start = harness_now_ms();
    for (long seq = 0; seq < MESSAGES; seq++) {
        int n = snprintf(json, sizeof json,
                         "{\"channel\":\"Load\",\"messageType\":\"Tick\",\"sourceModule\":\"LoadTest\","
                         "\"data\":{\"seq\":%ld,\"payload\":\"0123456789abcdef0123456789abcdef\"}}",
                         seq);
        mc_id id;
        if (mc_publish(hub, json, (size_t)n, &id) != MC_STATUS_OK && failures++ == 0) {
            printf("    first failed publish (seq %ld): %s\n", seq, harness_last_error());
        }
    }
    int64_t published_ms = harness_now_ms() - start;
    CHECK(failures == 0);
    CHECK_OK(mc_wait_idle(hub, WAIT_MS));
    int64_t total_ms = harness_now_ms() - start;

    CHECK(atomic_load(&roomy.calls) == MESSAGES);
    CHECK(atomic_load(&blocking.calls) == MESSAGES);
    CHECK(atomic_load(&roomy.out_of_order) == 0);
    CHECK(atomic_load(&blocking.out_of_order) == 0);
    CHECK(atomic_load(&roomy.unparsable) == 0);
    CHECK(atomic_load(&blocking.unparsable) == 0);
    printf("    %d messages to 2 subscribers: published in %lld ms, all delivered in %lld ms (%.0f messages/s)\n",
           MESSAGES, (long long)published_ms, (long long)total_ms,
           total_ms > 0 ? MESSAGES * 1000.0 / (double)total_ms : 0.0);
}

static void bus_statistics_agree_with_the_callbacks(void) {
    char *json = NULL;
    CHECK_OK(mc_bus_stats(hub, &json));
    CHECK_CONTAINS(json, "\"published\":100000,");
    CHECK_CONTAINS(json, "\"delivered\":200000,");
    CHECK_CONTAINS(json, "\"failed\":0,");
    CHECK_CONTAINS(json, "\"expired\":0,");
    CHECK_CONTAINS(json, "\"dropped\":0,");
    CHECK_CONTAINS(json, "\"queueLength\":0,");
    mc_string_free(json);

    json = NULL;
    CHECK_OK(mc_channel_list(hub, "Load", &json));
    CHECK_CONTAINS(json, "\"published\":100000,");
    CHECK_CONTAINS(json, "\"delivered\":200000,");
    CHECK_CONTAINS(json, "\"dropped\":0,");
    mc_string_free(json);

    json = NULL;
    CHECK_OK(mc_subscription_list(hub, NULL, &json)); /* both entries */
    CHECK(count_occurrences(json, "\"delivered\":100000,") == 2);
    CHECK(count_occurrences(json, "\"dropped\":0,") == 2);
    CHECK(count_occurrences(json, "\"failed\":0,") == 2);
    mc_string_free(json);

    CHECK_OK(mc_unsubscribe(hub, roomy_id));
    CHECK_OK(mc_unsubscribe(hub, blocking_id));
}

int main(void) {
    counter_init(&roomy);
    counter_init(&blocking);
    if (mc_hub_new(NULL, 0, &hub) != MC_STATUS_OK || hub == NULL) {
        printf("mc_hub_new failed: %s\n", harness_last_error());
        printf("C: 0 passed, 1 failed\n");
        return 1;
    }
    RUN_TEST(every_message_reaches_both_subscribers_in_order);
    RUN_TEST(bus_statistics_agree_with_the_callbacks);
    mc_hub_free(hub);
    return harness_summary();
}
