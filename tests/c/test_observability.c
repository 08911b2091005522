/* tests/c/test_observability.c: metrics and health through the C ABI (mc_metrics,
 * mc_metrics_reset, mc_health) and tracing (mc_trace_*). */
#include "harness.h"

#include <unistd.h>

static mc_hub *new_hub(void) {
    mc_hub *hub = NULL;
    const char *config = "{\"metricsIntervalMs\":100}";
    if (mc_hub_new(config, strlen(config), &hub) != MC_STATUS_OK) {
        printf("mc_hub_new failed: %s\n", harness_last_error());
        exit(2);
    }
    return hub;
}

static mc_status publish(mc_hub *hub, const char *json) {
    mc_id id;
    return mc_publish(hub, json, strlen(json), &id);
}

/* Takes and completes up to `n` messages of a pull subscription; returns how many. */
static size_t take_all(mc_hub *hub, mc_id sub, size_t n) {
    char *batch = NULL;
    size_t len = 0;
    if (mc_subscription_take(hub, sub, n, 1000, &batch, &len) != MC_STATUS_OK) return 0;
    size_t count = 0;
    for (const char *p = batch; (p = strstr(p, "\"id\":")) != NULL; p++) count++;
    mc_string_free(batch);
    mc_delivery_report report = {count, 0, 0, NULL};
    mc_subscription_complete(hub, sub, &report);
    return count;
}

static void metrics_report_exact_counts_and_latencies_as_json(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "A", NULL, 0));
    const char *opts = "{\"channel\":\"A\"}";
    mc_id sub;
    CHECK_OK(mc_subscribe_pull(hub, opts, strlen(opts), NULL, NULL, &sub));
    for (int i = 0; i < 3; i++) CHECK_OK(publish(hub, "{\"channel\":\"A\",\"messageType\":\"T\"}"));
    CHECK(take_all(hub, sub, 10) == 3);
    char *json = NULL;
    CHECK_OK(mc_metrics(hub, NULL, 0, &json));
    CHECK_CONTAINS(json, "\"messageBus\":{\"totalChannels\":1,\"totalSubscriptions\":1,\"published\":3,\"delivered\":3");
    CHECK_CONTAINS(json, "\"deliveryLatency\":{\"count\":3");
    CHECK_CONTAINS(json, "\"totalAPIs\":0");
    CHECK_CONTAINS(json, "\"successRate\":100.0");
    CHECK_NOT_CONTAINS(json, "\"history\"");
    mc_string_free(json);
    const char *with_history = "{\"channel\":\"nothing*\",\"includeHistory\":true}";
    json = NULL;
    CHECK_OK(mc_metrics(hub, with_history, strlen(with_history), &json));
    CHECK_CONTAINS(json, "\"channels\":[]");
    CHECK_CONTAINS(json, "\"history\":[");
    CHECK_CONTAINS(json, "\"deliveryLatency\":{\"count\":0");
    mc_string_free(json);
    CHECK_OK(mc_unsubscribe(hub, sub));
    mc_hub_free(hub);
}

static void metrics_reset_zeroes_the_counters(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "A", NULL, 0));
    CHECK_OK(publish(hub, "{\"channel\":\"A\",\"messageType\":\"T\"}"));
    CHECK_OK(mc_metrics_reset(hub));
    char *json = NULL;
    CHECK_OK(mc_metrics(hub, NULL, 0, &json));
    CHECK_CONTAINS(json, "\"published\":0");
    mc_string_free(json);
    mc_hub_free(hub);
}

static void health_runs_its_checks_and_reports_a_healthy_hub(void) {
    mc_hub *hub = new_hub();
    const char *opts = "{\"checkHealth\":true,\"timeoutMs\":2000}";
    char *json = NULL;
    CHECK_OK(mc_health(hub, opts, strlen(opts), &json));
    CHECK_CONTAINS(json, "\"overallHealth\":\"Healthy\"");
    CHECK_CONTAINS(json, "\"name\":\"MessagingTest\",\"success\":true");
    CHECK_CONTAINS(json, "\"name\":\"MetricsTest\",\"success\":true");
    CHECK_CONTAINS(json, "\"name\":\"CircuitBreakers\"");
    mc_string_free(json);
    json = NULL;
    CHECK_OK(mc_channel_list(hub, NULL, &json));
    CHECK(json != NULL && strcmp(json, "[]") == 0);
    mc_string_free(json);
    mc_hub_free(hub);
}

static void health_checks_pass_while_security_requires_tokens(void) {
    mc_hub *hub = new_hub();
    const char *secure = "{\"security\":{\"requireAuthentication\":true}}";
    CHECK_OK(mc_config_set(hub, secure, strlen(secure)));
    const char *opts = "{\"checkHealth\":true,\"timeoutMs\":2000}";
    char *json = NULL;
    CHECK_OK(mc_health(hub, opts, strlen(opts), &json));
    CHECK_CONTAINS(json, "\"overallHealth\":\"Healthy\"");
    CHECK_CONTAINS(json, "\"name\":\"MessagingTest\",\"success\":true");
    mc_string_free(json);
    /* A public channel still needs a token. */
    CHECK_OK(mc_channel_create(hub, "A", NULL, 0));
    CHECK_STATUS(publish(hub, "{\"channel\":\"A\",\"messageType\":\"T\"}"), MC_STATUS_AUTHENTICATION_FAILED);
    mc_hub_free(hub);
}

static void health_names_a_full_queue_with_its_recommendation(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "Q", NULL, 0));
    const char *opts = "{\"channel\":\"Q\",\"capacity\":1,\"overflow\":\"DropNewest\"}";
    mc_id sub;
    CHECK_OK(mc_subscribe_pull(hub, opts, strlen(opts), NULL, NULL, &sub));
    CHECK_OK(publish(hub, "{\"channel\":\"Q\",\"messageType\":\"T\"}"));
    CHECK_OK(publish(hub, "{\"channel\":\"Q\",\"messageType\":\"T\"}"));
    char *json = NULL;
    CHECK_OK(mc_health(hub, NULL, 0, &json));
    CHECK_CONTAINS(json, "\"overallHealth\":\"Unhealthy\"");
    CHECK_CONTAINS(json, "\"rule\":\"QueueFull\"");
    CHECK_CONTAINS(json, "\"rule\":\"MessagesDropped\"");
    CHECK_CONTAINS(json, "-MaxQueueSize");
    mc_string_free(json);
    CHECK_OK(mc_unsubscribe(hub, sub));
    mc_hub_free(hub);
}

static void bad_arguments_fail_cleanly_and_write_nothing(void) {
    mc_hub *hub = new_hub();
    char *json = (char *)"untouched";
    CHECK_STATUS(mc_metrics(NULL, NULL, 0, &json), MC_STATUS_NULL_ARGUMENT);
    CHECK(strcmp(json, "untouched") == 0);
    CHECK_STATUS(mc_metrics(hub, NULL, 0, NULL), MC_STATUS_NULL_ARGUMENT);
    const char *unknown = "{\"chanel\":\"A\"}";
    CHECK_STATUS(mc_metrics(hub, unknown, strlen(unknown), &json), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("chanel");
    const char *bad_pattern = "{\"channel\":\"[\"}";
    CHECK_STATUS(mc_metrics(hub, bad_pattern, strlen(bad_pattern), &json), MC_STATUS_INVALID_ARGUMENT);
    const char *bad_health = "{\"checkHealth\":\"yes\"}";
    CHECK_STATUS(mc_health(hub, bad_health, strlen(bad_health), &json), MC_STATUS_INVALID_ARGUMENT);
    CHECK(strcmp(json, "untouched") == 0);
    CHECK_STATUS(mc_metrics_reset(NULL), MC_STATUS_NULL_ARGUMENT);
    mc_hub_free(hub);
}

/* Tracing (mc_trace_enable, mc_trace_disable, mc_trace_read). */
static void trace_records_publishes_and_reads_the_newest_back(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "A", NULL, 0));
    char *json = NULL;
    CHECK_OK(mc_trace_read(hub, 0, &json));
    CHECK(strcmp(json, "[]") == 0);
    mc_string_free(json);
    const char *opts = "{\"level\":\"Verbose\"}";
    CHECK_OK(mc_trace_enable(hub, opts, strlen(opts)));
    CHECK_OK(publish(hub, "{\"channel\":\"A\",\"messageType\":\"T\",\"correlationId\":\"c-7\"}"));
    CHECK_OK(publish(hub, "{\"channel\":\"A\",\"messageType\":\"U\"}"));
    json = NULL;
    CHECK_OK(mc_trace_read(hub, 1, &json));
    CHECK_CONTAINS(json, "\"event\":\"publish\"");
    CHECK_CONTAINS(json, "\"messageType\":\"U\"");
    /* Only the newest record: not the first publish (a bare "c-7" could be part of an id). */
    CHECK_NOT_CONTAINS(json, "\"messageType\":\"T\"");
    CHECK_NOT_CONTAINS(json, "\"correlationId\":\"c-7\"");
    mc_string_free(json);
    json = NULL;
    CHECK_OK(mc_trace_disable(hub, NULL, 0, &json));
    CHECK_CONTAINS(json, "\"wasEnabled\":true,\"records\":2,\"droppedRecords\":0");
    CHECK_CONTAINS(json, "\"archive\":null");
    mc_string_free(json);
    mc_hub_free(hub);
}

static void enable_tracing_in_the_configuration_switches_the_trace(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "A", NULL, 0));
    const char *on = "{\"EnableTracing\":true}";
    CHECK_OK(mc_config_set(hub, on, strlen(on)));
    char *json = NULL;
    CHECK_OK(mc_config_get(hub, &json));
    CHECK_CONTAINS(json, "\"enableTracing\":true");
    mc_string_free(json);
    CHECK_OK(publish(hub, "{\"channel\":\"A\",\"messageType\":\"T\"}"));
    json = NULL;
    CHECK_OK(mc_trace_read(hub, 0, &json));
    CHECK_CONTAINS(json, "\"event\":\"publish\"");
    mc_string_free(json);
    const char *off = "{\"enableTracing\":false}";
    CHECK_OK(mc_config_set(hub, off, strlen(off)));
    json = NULL;
    CHECK_OK(mc_config_get(hub, &json));
    CHECK_CONTAINS(json, "\"enableTracing\":false");
    mc_string_free(json);
    const char *bad = "{\"enableTracing\":1}";
    CHECK_STATUS(mc_config_set(hub, bad, strlen(bad)), MC_STATUS_INVALID_ARGUMENT);
    mc_hub_free(hub);
}

static void trace_to_file_and_archive_through_the_c_abi(void) {
    mc_hub *hub = new_hub();
    CHECK_OK(mc_channel_create(hub, "A", NULL, 0));
    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/mc-c-trace-%ld-%p", (long)time(NULL), (void *)hub);
    char opts[512];
    snprintf(opts, sizeof opts, "{\"logToFile\":true,\"filePath\":\"%s/t.log\"}", dir);
    CHECK_OK(mc_trace_enable(hub, opts, strlen(opts)));
    CHECK_OK(publish(hub, "{\"channel\":\"A\",\"messageType\":\"T\"}"));
    char dis[512];
    snprintf(dis, sizeof dis, "{\"archiveLogs\":true,\"archivePath\":\"%s/archive\"}", dir);
    char *json = NULL;
    CHECK_OK(mc_trace_disable(hub, dis, strlen(dis), &json));
    CHECK_CONTAINS(json, "\"records\":1");
    CHECK_CONTAINS(json, "/archive/t-");
    CHECK_CONTAINS(json, ".log.gz\"");
    /* Leave nothing behind: the archive named in the summary, the trace file, the folders. */
    char path[512];
    const char *archive = json ? strstr(json, "\"archive\":\"") : NULL;
    if (archive != NULL) {
        archive += strlen("\"archive\":\"");
        snprintf(path, sizeof path, "%.*s", (int)strcspn(archive, "\""), archive);
        CHECK(unlink(path) == 0);
    }
    /* The writer wrote the publish record to the file before the disable returned. */
    snprintf(path, sizeof path, "%s/t.log", dir);
    FILE *log = fopen(path, "r");
    CHECK(log != NULL);
    if (log != NULL) {
        char line[1024] = "";
        CHECK(fgets(line, sizeof line, log) != NULL);
        CHECK_CONTAINS(line, "\"event\":\"publish\"");
        fclose(log);
    }
    CHECK(unlink(path) == 0);
    snprintf(path, sizeof path, "%s/archive", dir);
    CHECK(rmdir(path) == 0);
    CHECK(rmdir(dir) == 0);
    mc_string_free(json);
    mc_hub_free(hub);
}

static void trace_bad_arguments_fail_cleanly_and_write_nothing(void) {
    mc_hub *hub = new_hub();
    char *json = (char *)"untouched";
    CHECK_STATUS(mc_trace_enable(NULL, NULL, 0), MC_STATUS_NULL_ARGUMENT);
    const char *bad_level = "{\"level\":\"Loud\"}";
    CHECK_STATUS(mc_trace_enable(hub, bad_level, strlen(bad_level)), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("invalid level 'Loud': use Basic or Verbose");
    const char *no_path = "{\"logToFile\":true}";
    CHECK_STATUS(mc_trace_enable(hub, no_path, strlen(no_path)), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("filePath");
    const char *archive = "{\"archiveLogs\":true}";
    CHECK_STATUS(mc_trace_disable(hub, archive, strlen(archive), &json), MC_STATUS_INVALID_ARGUMENT);
    CHECK(strcmp(json, "untouched") == 0);
    /* A trace in memory only has no file to archive: refused, and tracing stays on. */
    CHECK_OK(mc_trace_enable(hub, NULL, 0));
    CHECK_STATUS(mc_trace_disable(hub, archive, strlen(archive), &json), MC_STATUS_INVALID_ARGUMENT);
    CHECK_LAST_ERROR_CONTAINS("memory only");
    CHECK(strcmp(json, "untouched") == 0);
    char *config = NULL;
    CHECK_OK(mc_config_get(hub, &config));
    CHECK_CONTAINS(config, "\"enableTracing\":true");
    mc_string_free(config);
    char *summary = NULL;
    CHECK_OK(mc_trace_disable(hub, NULL, 0, &summary));
    CHECK_CONTAINS(summary, "\"wasEnabled\":true");
    mc_string_free(summary);
    CHECK_STATUS(mc_trace_disable(hub, NULL, 0, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_trace_read(hub, 0, NULL), MC_STATUS_NULL_ARGUMENT);
    CHECK_STATUS(mc_trace_read(NULL, 0, &json), MC_STATUS_NULL_ARGUMENT);
    CHECK(strcmp(json, "untouched") == 0);
    mc_hub_free(hub);
}

int main(void) {
    RUN_TEST(metrics_report_exact_counts_and_latencies_as_json);
    RUN_TEST(metrics_reset_zeroes_the_counters);
    RUN_TEST(health_runs_its_checks_and_reports_a_healthy_hub);
    RUN_TEST(health_checks_pass_while_security_requires_tokens);
    RUN_TEST(health_names_a_full_queue_with_its_recommendation);
    RUN_TEST(bad_arguments_fail_cleanly_and_write_nothing);
    RUN_TEST(trace_records_publishes_and_reads_the_newest_back);
    RUN_TEST(enable_tracing_in_the_configuration_switches_the_trace);
    RUN_TEST(trace_to_file_and_archive_through_the_c_abi);
    RUN_TEST(trace_bad_arguments_fail_cleanly_and_write_nothing);
    return harness_summary();
}
