/*
 * routes: the REST routes pigeon serves, one row each (SPEC §1, §3, §4,
 * §8), and the SPEC routes not built yet. Adding a route is adding a row
 * here and its handler in a file of its own.
 */
#include "routes.h"

#define SENDING "/accounts/:account/email/sending"
#define SUBDOMAINS "/zones/:zone/email/sending/subdomains"

static const struct route rows[] = {
    {"GET", "/healthz", api_healthz, 0, ROUTE_NOAUTH},
    {"GET", "/metrics", api_metrics, 0, ROUTE_NOAUTH},
    {"GET", "/user/tokens/verify", api_verify, 0, 0},
    {"POST", SENDING "/send", api_send, PERM_SEND, ROUTE_BODY | ROUTE_SENDING},
    {"POST", SENDING "/send_raw", api_send_raw, PERM_SEND,
     ROUTE_BODY | ROUTE_SENDING},
    {"GET", SENDING "/messages/*message_id/status", api_message_status,
     PERM_READ, ROUTE_SENDING},
    {"GET", SENDING "/messages/*message_id", api_message_raw, PERM_READ,
     ROUTE_SENDING},
    {"POST", SENDING "/suppressions", api_supp_create, PERM_MANAGE,
     ROUTE_BODY | ROUTE_SENDING},
    {"GET", SENDING "/suppressions", api_supp_list, PERM_READ, ROUTE_SENDING},
    {"POST", SENDING "/suppressions/bulk", api_supp_bulk, PERM_MANAGE,
     ROUTE_BODY | ROUTE_SENDING},
    {"GET", SENDING "/suppressions/:id", api_supp_get, PERM_READ,
     ROUTE_SENDING},
    {"PATCH", SENDING "/suppressions/:id", api_supp_edit, PERM_MANAGE,
     ROUTE_BODY | ROUTE_SENDING},
    {"DELETE", SENDING "/suppressions/:id", api_supp_delete, PERM_MANAGE,
     ROUTE_SENDING},
    {"GET", SENDING "/limits", api_limits, PERM_READ, ROUTE_SENDING},
    {"GET", SENDING "/messages", api_message_list, PERM_READ, ROUTE_SENDING},
    {"POST", SUBDOMAINS, api_subdomain_create, PERM_MANAGE,
     ROUTE_BODY | ROUTE_SENDING},
    {"GET", SUBDOMAINS, api_subdomain_list, PERM_READ, ROUTE_SENDING},
    {"GET", SUBDOMAINS "/:id", api_subdomain_get, PERM_READ, ROUTE_SENDING},
    {"PATCH", SUBDOMAINS "/:id", api_subdomain_edit, PERM_MANAGE,
     ROUTE_BODY | ROUTE_SENDING},
    {"DELETE", SUBDOMAINS "/:id", api_subdomain_delete, PERM_MANAGE,
     ROUTE_SENDING},
    {"GET", SUBDOMAINS "/:id/dns", api_subdomain_dns, PERM_READ, ROUTE_SENDING},
    {"GET", SENDING "/events", api_events, PERM_READ, ROUTE_SENDING},
};

/* Answered 404 with a sentence that says so, rather than "no such
 * route". */
static const char *const planned[] = {
    "/", /* §10 the dashboard */
};

const struct route_table api_routes = {
    rows,
    sizeof(rows) / sizeof(rows[0]),
    planned,
    sizeof(planned) / sizeof(planned[0]),
};
