/* pdsync_sessions: a Mosquitto 2.0 broker plugin (plugin interface v5) that lets a device
 * read users/{uid}/... only while that user has a session on it (docs/security.md).
 *
 * The server keeps the session table (server-node/sessions.hpp) and sends its changes on
 * {root}/server/sessions, one line each: "grant DEVICE UID", "revoke DEVICE UID", "reset".
 * UID is the user level of the topic as it stands (percent-encoded), so a check compares
 * two strings and decodes nothing. The plugin reads those lines from the MOSQ_EVT_MESSAGE
 * event, which the broker raises only for a publish its ACL checks allowed, and only from
 * the client whose user name (or, without one, client id) is plugin_opt_server.
 *
 * What it decides (MOSQ_EVT_ACL_CHECK):
 *   - read of {root}/users/UID/...: allowed for the server; for any other client, allowed
 *     when (client, UID) is granted, else denied. The broker checks reads when it delivers,
 *     retained messages at subscribe time included, so a subscription to users/+/keychain
 *     is granted and then delivers only the granted users' documents.
 *   - read of the control topic: denied to everyone but the server; a write to it: denied
 *     to everyone but the server.
 *   - everything else: MOSQ_ERR_PLUGIN_DEFER, so the dynamic security plugin (or the ACL
 *     file) decides it. See docs/decisions.md for the order the two plugins load in.
 *
 * Options: plugin_opt_root (default pds/v1), plugin_opt_server (default pdsync-server).
 * Built by CMake as a MODULE; needs only the broker's headers (mosquitto-dev).
 */
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* From mosquitto.h (libmosquitto-dev), which mosquitto-dev does not ship; the values are
 * the broker's ABI and have not changed since 1.x. */
#ifndef MOSQ_ERR_SUCCESS
#define MOSQ_ERR_SUCCESS 0
#define MOSQ_ERR_NOMEM 1
#define MOSQ_ERR_INVAL 3
#define MOSQ_ERR_ACL_DENIED 12
#define MOSQ_ERR_PLUGIN_DEFER 17
#endif
#ifndef MOSQ_LOG_INFO
#define MOSQ_LOG_INFO (1 << 0)
#define MOSQ_LOG_WARNING (1 << 2)
#endif

/* A chained hash set of "DEVICE UID" keys. A fleet holds a few sessions per device, so a
 * fixed table of 4,096 chains keeps every lookup to a chain of about one. */
#define BUCKETS 4096u

struct grant {
    struct grant *next;
    char key[]; /* "DEVICE UID" */
};

struct state {
    mosquitto_plugin_id_t *id;
    char *users_prefix;  /* "{root}/users/" */
    size_t users_prefix_len;
    char *control_topic; /* "{root}/server/sessions" */
    char *server;
    struct grant *buckets[BUCKETS];
    size_t count;
};

static struct state g;

static uint32_t hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    size_t i;
    for(i = 0; i < n; i++){
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static struct grant **find(const char *key, size_t n)
{
    struct grant **at = &g.buckets[hash(key, n) % BUCKETS];
    while(*at && !(strlen((*at)->key) == n && memcmp((*at)->key, key, n) == 0)){
        at = &(*at)->next;
    }
    return at;
}

static void grant_key(const char *key, size_t n)
{
    struct grant **at = find(key, n);
    struct grant *gr;
    if(*at) return;
    gr = malloc(sizeof *gr + n + 1);
    if(!gr) return;
    memcpy(gr->key, key, n);
    gr->key[n] = '\0';
    gr->next = NULL;
    *at = gr;
    g.count++;
}

static void revoke_key(const char *key, size_t n)
{
    struct grant **at = find(key, n);
    struct grant *gr = *at;
    if(!gr) return;
    *at = gr->next;
    free(gr);
    g.count--;
}

static void reset_all(void)
{
    unsigned i;
    for(i = 0; i < BUCKETS; i++){
        while(g.buckets[i]){
            struct grant *next = g.buckets[i]->next;
            free(g.buckets[i]);
            g.buckets[i] = next;
        }
    }
    g.count = 0;
}

/* The client as the server's session table names it: its user name, or its client id
 * where the listener has no accounts (tests with an anonymous broker). */
static const char *who(const struct mosquitto *client)
{
    const char *name = mosquitto_client_username(client);
    return name ? name : mosquitto_client_id(client);
}

static void apply_line(const char *line, size_t n)
{
    if(n == 5 && memcmp(line, "reset", 5) == 0){
        reset_all();
    }else if(n > 6 && memcmp(line, "grant ", 6) == 0){
        grant_key(line + 6, n - 6);
    }else if(n > 7 && memcmp(line, "revoke ", 7) == 0){
        revoke_key(line + 7, n - 7);
    }
}

static int on_message(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_message *ed = event_data;
    const char *p, *end, *eol;
    const char *name;
    (void)event;
    (void)userdata;
    if(strcmp(ed->topic, g.control_topic) != 0) return MOSQ_ERR_SUCCESS;
    name = who(ed->client);
    if(!name || strcmp(name, g.server) != 0) return MOSQ_ERR_SUCCESS;
    p = ed->payload;
    end = p + ed->payloadlen;
    while(p < end){
        eol = memchr(p, '\n', (size_t)(end - p));
        if(!eol) eol = end;
        apply_line(p, (size_t)(eol - p));
        p = eol + 1;
    }
    return MOSQ_ERR_SUCCESS;
}

static int on_acl_check(int event, void *event_data, void *userdata)
{
    struct mosquitto_evt_acl_check *ed = event_data;
    const char *name, *uid, *slash;
    char key[512];
    size_t name_len, uid_len;
    (void)event;
    (void)userdata;

    name = who(ed->client);
    if(strcmp(ed->topic, g.control_topic) == 0){
        if(ed->access != MOSQ_ACL_READ && ed->access != MOSQ_ACL_WRITE) return MOSQ_ERR_PLUGIN_DEFER;
        return (name && strcmp(name, g.server) == 0) ? MOSQ_ERR_PLUGIN_DEFER : MOSQ_ERR_ACL_DENIED;
    }
    if(ed->access != MOSQ_ACL_READ) return MOSQ_ERR_PLUGIN_DEFER;
    if(strncmp(ed->topic, g.users_prefix, g.users_prefix_len) != 0) return MOSQ_ERR_PLUGIN_DEFER;
    if(!name) return MOSQ_ERR_ACL_DENIED;
    if(strcmp(name, g.server) == 0) return MOSQ_ERR_PLUGIN_DEFER;

    uid = ed->topic + g.users_prefix_len;
    slash = strchr(uid, '/');
    uid_len = slash ? (size_t)(slash - uid) : strlen(uid);
    name_len = strlen(name);
    if(uid_len == 0 || name_len + 1 + uid_len >= sizeof key) return MOSQ_ERR_ACL_DENIED;
    memcpy(key, name, name_len);
    key[name_len] = ' ';
    memcpy(key + name_len + 1, uid, uid_len);
    return *find(key, name_len + 1 + uid_len) ? MOSQ_ERR_SUCCESS : MOSQ_ERR_ACL_DENIED;
}

static char *joined(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if(!s) return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

int mosquitto_plugin_version(int supported_version_count, const int *supported_versions)
{
    int i;
    for(i = 0; i < supported_version_count; i++){
        if(supported_versions[i] == 5) return 5;
    }
    return -1;
}

int mosquitto_plugin_init(mosquitto_plugin_id_t *identifier, void **userdata,
                          struct mosquitto_opt *options, int option_count)
{
    const char *root = "pds/v1";
    const char *server = "pdsync-server";
    int i;
    memset(&g, 0, sizeof g);
    for(i = 0; i < option_count; i++){
        if(strcmp(options[i].key, "root") == 0) root = options[i].value;
        else if(strcmp(options[i].key, "server") == 0) server = options[i].value;
    }
    g.id = identifier;
    g.users_prefix = joined(root, "/users/");
    g.control_topic = joined(root, "/server/sessions");
    g.server = joined(server, "");
    if(!g.users_prefix || !g.control_topic || !g.server) return MOSQ_ERR_NOMEM;
    g.users_prefix_len = strlen(g.users_prefix);
    *userdata = &g;
    mosquitto_log_printf(MOSQ_LOG_INFO,
                         "pdsync_sessions: reads under %s decided by the sessions %s sends on %s",
                         g.users_prefix, g.server, g.control_topic);
    if(mosquitto_callback_register(identifier, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL, NULL)
       || mosquitto_callback_register(identifier, MOSQ_EVT_MESSAGE, on_message, NULL, NULL)){
        return MOSQ_ERR_INVAL;
    }
    return MOSQ_ERR_SUCCESS;
}

int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *options, int option_count)
{
    (void)userdata;
    (void)options;
    (void)option_count;
    mosquitto_callback_unregister(g.id, MOSQ_EVT_ACL_CHECK, on_acl_check, NULL);
    mosquitto_callback_unregister(g.id, MOSQ_EVT_MESSAGE, on_message, NULL);
    reset_all();
    free(g.users_prefix);
    free(g.control_topic);
    free(g.server);
    return MOSQ_ERR_SUCCESS;
}
