/*
 * routes: the REST routes pigeon serves, one row each (SPEC §1, §3, §4,
 * §8), and the SPEC routes not built yet. Adding a route is adding a row
 * here and its handler in a file of its own.
 */
#include "routes.h"

#define SENDING "/accounts/:account/email/sending"

static const struct route rows[] = {
    {"GET", "/healthz", api_healthz, 0, ROUTE_NOAUTH},
    {"GET", "/user/tokens/verify", api_verify, 0, 0},
    {"POST", SENDING "/send", api_send, PERM_SEND, ROUTE_BODY | ROUTE_SENDING},
    {"POST", SENDING "/send_raw", api_send_raw, PERM_SEND,
     ROUTE_BODY | ROUTE_SENDING},
    {"GET", SENDING "/messages/*message_id/status", api_message_status,
     PERM_READ, ROUTE_SENDING},
    {"GET", SENDING "/messages/*message_id", api_message_raw, PERM_READ,
     ROUTE_SENDING},
    {"GET", SENDING "/events", api_events, PERM_READ, ROUTE_SENDING},
};

/* Answered 404 with a sentence that says so, rather than "no such
 * route". */
static const char *const planned[] = {
    SENDING "/suppressions",
    SENDING "/suppressions/bulk",
    SENDING "/suppressions/:id",
    SENDING "/limits",
    "/zones/:zone/email/sending/subdomains",
    "/zones/:zone/email/sending/subdomains/:id",
    "/zones/:zone/email/sending/subdomains/:id/dns",
    "/metrics",
};

const struct route_table api_routes = {
    rows,
    sizeof(rows) / sizeof(rows[0]),
    planned,
    sizeof(planned) / sizeof(planned[0]),
};
