/* mqttload: an MQTT QoS 1 load generator and subscriber on libmosquitto.
 *
 * Written in C so that the load generator is not what limits a measurement of the broker or
 * the gateway (Python publishers on paho-mqtt top out well below Mosquitto's own rate).
 *
 *   mqttload --host H --port P --accounts FILE --count N [--rate R] --run-id ID --body JSON
 *            [--sub USER --share GROUP [--subs K] [--sub-port P]] [--window W] [--timeout S]
 *            [--cafile CA]   (TLS, the broker's certificate and host name checked against CA)
 *
 * FILE has one "username password" per line: every line but the --sub account is a device
 * that publishes fleet/<username>/pred. Message i goes to device i % devices and is the
 * prediction event {"schema_version":1,"device_id":..,"seq":i,"message_id":"<dev>-<ID>-<i>",
 * <body>,"ts":<wall-clock seconds at publish>}. --rate R paces the publishes at R msg/s in
 * total (0 or absent: as fast as the broker acknowledges, at most W unacknowledged per device).
 * With --sub, the same process subscribes as USER with K connections (default 4; MQTT v5,
 * QoS 1, $share/GROUP/fleet/+/pred, Receive Maximum 1000, each on its own network thread) and
 * counts the messages of this run: the raw broker pub -> sub path. Several subscribers, so
 * that a client reading one packet at a time does not limit what the broker can deliver.
 * Prints one JSON object when every publish is acknowledged and (with --sub) every message of
 * the run arrived, or after --timeout seconds. A publisher that loses its connection (the
 * broker restarts) reconnects and resends its unacknowledged messages, like a device's
 * offline buffer; "reconnects" counts those reconnections.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEVICES 1024

typedef struct {
    struct mosquitto *mosq;
    char user[128];
    char pass[128];
    char topic[192];
    atomic_long outstanding; /* published, not yet acknowledged */
    atomic_int connected;
} client_t;

static client_t devices[MAX_DEVICES];
static int n_devices;
static atomic_long acked;
static atomic_long received;
static double *latencies; /* seconds, per received message of this run */
static double first_receive, last_receive;
static _Atomic double last_ack;
static const char *run_tag; /* "-<run id>-": marks this run's message ids */
static pthread_mutex_t sub_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int sub_ready; /* subscriptions acknowledged */

static double wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_s(double s) {
    struct timespec ts = {(time_t)s, (long)((s - (time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
    }
}

static void die(const char *what, int rc) {
    fprintf(stderr, "mqttload: %s: %s\n", what, mosquitto_strerror(rc));
    exit(2);
}

static atomic_long reconnects; /* connections after the first, per device: broker restarts */

static void on_connect(struct mosquitto *m, void *obj, int rc) {
    (void)m;
    if (rc != 0) {
        fprintf(stderr, "mqttload: connect refused: %s\n", mosquitto_connack_string(rc));
        exit(2);
    }
    /* the first connection of a device; later ones (the loop reconnects after the broker
     * went away) resend the unacknowledged QoS 1 messages that libmosquitto kept */
    if (atomic_exchange(&((client_t *)obj)->connected, 1)) atomic_fetch_add(&reconnects, 1);
}

static void on_publish(struct mosquitto *m, void *obj, int mid) {
    (void)m;
    (void)mid;
    atomic_fetch_sub(&((client_t *)obj)->outstanding, 1);
    atomic_fetch_add(&acked, 1);
    last_ack = wall();
}

static void on_subscribe(struct mosquitto *m, void *obj, int mid, int n, const int *granted) {
    (void)m;
    (void)obj;
    (void)mid;
    if (n < 1 || granted[0] > 1) {
        fprintf(stderr, "mqttload: subscription refused\n");
        exit(2);
    }
    atomic_fetch_add(&sub_ready, 1);
}

static void on_message(struct mosquitto *m, void *obj, const struct mosquitto_message *msg) {
    (void)m;
    long cap = *(long *)obj;
    double now = wall();
    const char *payload = msg->payload;
    if (payload == NULL || memmem(payload, msg->payloadlen, run_tag, strlen(run_tag)) == NULL)
        return; /* not this run's */
    const char *ts = memmem(payload, msg->payloadlen, "\"ts\":", 5);
    double sent = ts ? strtod(ts + 5, NULL) : now;
    pthread_mutex_lock(&sub_lock);
    long i = atomic_fetch_add(&received, 1);
    if (i == 0) first_receive = now;
    last_receive = now;
    if (i < cap) latencies[i] = now - sent;
    pthread_mutex_unlock(&sub_lock);
}

static const char *cafile = NULL;

static struct mosquitto *make_client(const char *id, const char *user, const char *pass,
                                     void *obj, int v5) {
    struct mosquitto *mosq = mosquitto_new(id, true, obj);
    if (mosq == NULL) die("mosquitto_new", MOSQ_ERR_NOMEM);
    if (cafile) {
        int rc = mosquitto_tls_set(mosq, cafile, NULL, NULL, NULL, NULL);
        if (rc) die("mosquitto_tls_set", rc);
    }
    if (v5) mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_username_pw_set(mosq, user, pass);
    mosquitto_connect_callback_set(mosq, on_connect);
    return mosq;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, long n, double p) {
    if (n <= 0) return -1.0;
    long i = (long)(p / 100.0 * (n - 1) + 0.5);
    return v[i] * 1000.0;
}

int main(int argc, char **argv) {
    const char *host = "127.0.0.1", *accounts = NULL, *run_id = NULL, *body = NULL;
    const char *sub_user = NULL, *share = "mqttload";
    int port = 1883, sub_port = 0, window = 100, n_subs = 4;
    long count = 0;
    double rate = 0, timeout = 120;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--host")) host = v;
        else if (!strcmp(k, "--port")) port = atoi(v);
        else if (!strcmp(k, "--accounts")) accounts = v;
        else if (!strcmp(k, "--count")) count = atol(v);
        else if (!strcmp(k, "--rate")) rate = atof(v);
        else if (!strcmp(k, "--run-id")) run_id = v;
        else if (!strcmp(k, "--body")) body = v;
        else if (!strcmp(k, "--sub")) sub_user = v;
        else if (!strcmp(k, "--share")) share = v;
        else if (!strcmp(k, "--sub-port")) sub_port = atoi(v); /* services' listener */
        else if (!strcmp(k, "--cafile")) cafile = v;
        else if (!strcmp(k, "--window")) window = atoi(v);
        else if (!strcmp(k, "--subs")) n_subs = atoi(v);
        else if (!strcmp(k, "--timeout")) timeout = atof(v);
        else {
            fprintf(stderr, "mqttload: unknown option %s\n", k);
            return 2;
        }
    }
    if (!accounts || !run_id || !body || count <= 0 || window < 1 || n_subs < 1 || n_subs > 64) {
        fprintf(stderr, "usage: see the comment at the top of mqttload.c\n");
        return 2;
    }
    char tag[96];
    snprintf(tag, sizeof tag, "-%s-", run_id);
    run_tag = tag;

    mosquitto_lib_init();
    FILE *f = fopen(accounts, "r");
    if (!f) {
        perror("mqttload: accounts");
        return 2;
    }
    char user[128], pass[128], sub_pass[128] = "";
    while (fscanf(f, "%127s %127s", user, pass) == 2) {
        if (sub_user && !strcmp(user, sub_user)) {
            snprintf(sub_pass, sizeof sub_pass, "%s", pass);
            continue;
        }
        if (n_devices == MAX_DEVICES) break;
        client_t *c = &devices[n_devices++];
        snprintf(c->user, sizeof c->user, "%s", user);
        snprintf(c->pass, sizeof c->pass, "%s", pass);
        snprintf(c->topic, sizeof c->topic, "fleet/%s/pred", user);
    }
    fclose(f);
    if (n_devices == 0) {
        fprintf(stderr, "mqttload: no device accounts in %s\n", accounts);
        return 2;
    }

    long cap = count;
    struct mosquitto *subs[64] = {NULL};
    if (sub_user) {
        latencies = calloc(cap, sizeof(double));
        char filter[256];
        snprintf(filter, sizeof filter, "$share/%s/fleet/+/pred", share);
        for (int k = 0; k < n_subs; k++) {
            char id[160];
            snprintf(id, sizeof id, "mqttload-sub%d-%s", k, run_id);
            struct mosquitto *sub = subs[k] = make_client(id, sub_user, sub_pass, &cap, 1);
            mosquitto_message_callback_set(sub, on_message);
            mosquitto_subscribe_callback_set(sub, on_subscribe);
            mosquitto_property *props = NULL;
            mosquitto_property_add_int16(&props, MQTT_PROP_RECEIVE_MAXIMUM, 1000);
            int rc = mosquitto_connect_bind_v5(sub, host, sub_port ? sub_port : port, 30, NULL,
                                               props);
            mosquitto_property_free_all(&props);
            if (rc) die("subscriber connect", rc);
            if ((rc = mosquitto_subscribe_v5(sub, NULL, filter, 1, 0, NULL))) die("subscribe", rc);
            mosquitto_loop_start(sub);
        }
    }
    for (int d = 0; d < n_devices; d++) {
        client_t *c = &devices[d];
        char id[200];
        snprintf(id, sizeof id, "mqttload-%s-%s", c->user, run_id);
        c->mosq = make_client(id, c->user, c->pass, c, 0);
        mosquitto_publish_callback_set(c->mosq, on_publish);
        mosquitto_max_inflight_messages_set(c->mosq, (unsigned)window);
        int rc = mosquitto_connect(c->mosq, host, port, 30);
        if (rc) die("publisher connect", rc);
        mosquitto_loop_start(c->mosq);
    }
    double deadline = mono() + 30;
    for (int d = 0; d < n_devices; d++)
        while (!atomic_load(&devices[d].connected) && mono() < deadline) sleep_s(0.005);
    while (sub_user && atomic_load(&sub_ready) < n_subs && mono() < deadline) sleep_s(0.005);
    if (mono() >= deadline) {
        fprintf(stderr, "mqttload: clients did not connect within 30 s\n");
        return 2;
    }

    char payload[4096];
    double start_wall = wall(), start = mono();
    deadline = start + timeout;
    long throttled = 0;
    for (long i = 0; i < count && mono() < deadline; i++) {
        client_t *c = &devices[i % n_devices];
        if (rate > 0) {
            double due = start + i / rate, now = mono();
            if (due > now) sleep_s(due - now);
        }
        while (atomic_load(&c->outstanding) >= window && mono() < deadline) {
            throttled++;
            sleep_s(0.0002);
        }
        int len = snprintf(payload, sizeof payload,
                           "{\"schema_version\":1,\"device_id\":\"%s\",\"seq\":%ld,"
                           "\"message_id\":\"%s-%s-%ld\",%s,\"ts\":%.6f}",
                           c->user, i, c->user, run_id, i, body, wall());
        atomic_fetch_add(&c->outstanding, 1);
        int rc = mosquitto_publish(c->mosq, NULL, c->topic, len, payload, 1, false);
        /* not connected (the broker restarts): libmosquitto keeps a QoS 1 message queued
         * and sends it after reconnecting, like a device's offline buffer */
        if (rc && rc != MOSQ_ERR_NO_CONN) die("publish", rc);
    }
    double published_at = mono();
    while (atomic_load(&acked) < count && mono() < deadline) sleep_s(0.001);
    while (sub_user && atomic_load(&received) < count && mono() < deadline) sleep_s(0.001);

    for (int d = 0; d < n_devices; d++) {
        mosquitto_disconnect(devices[d].mosq);
        mosquitto_loop_stop(devices[d].mosq, false);
    }
    long got = atomic_load(&received);
    printf("{\"devices\": %d, \"count\": %ld, \"rate\": %.1f, \"window\": %d, "
           "\"acked\": %ld, \"start_ts\": %.6f, \"publish_s\": %.4f, \"last_ack_ts\": %.6f, "
           "\"throttled\": %ld, \"reconnects\": %ld",
           n_devices, count, rate, window, atomic_load(&acked), start_wall,
           published_at - start, atomic_load(&last_ack), throttled, atomic_load(&reconnects));
    if (sub_user) {
        pthread_mutex_lock(&sub_lock);
        long n = got < cap ? got : cap;
        qsort(latencies, n, sizeof(double), cmp_double);
        printf(", \"sub\": {\"received\": %ld, \"first_ts\": %.6f, \"last_ts\": %.6f, "
               "\"latency_ms\": {\"p50\": %.2f, \"p99\": %.2f, \"max\": %.2f}, \"subs\": %d}",
               got, first_receive, last_receive, pct(latencies, n, 50), pct(latencies, n, 99),
               pct(latencies, n, 100), n_subs);
        pthread_mutex_unlock(&sub_lock);
        for (int k = 0; k < n_subs; k++) {
            mosquitto_disconnect(subs[k]);
            mosquitto_loop_stop(subs[k], false);
        }
    }
    printf("}\n");
    mosquitto_lib_cleanup();
    return (atomic_load(&acked) == count && (!sub_user || got >= count)) ? 0 : 1;
}
