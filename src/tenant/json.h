/*
 * json: the one JSON form of accounts, zones, sending domains (SPEC §6.1,
 * §8.2), tokens and DNS records (SPEC §6.2), as json-c objects. The
 * CLI's --json output and the REST management routes both print these;
 * the caller owns (json_object_put) what it gets.
 *
 * It does not print or send: the caller serialises.
 */
#ifndef PIGEON_TENANT_JSON_H
#define PIGEON_TENANT_JSON_H

#include <stddef.h>

#include "../mail/dnsrec.h"
#include "../store/store.h"

struct json_object;

struct json_object *tenant_account_json(const struct account *ac);
struct json_object *tenant_zone_json(const struct zone *z);
struct json_object *tenant_domain_json(const struct domain *d);
/* The token without its secret (the store has none to give). */
struct json_object *tenant_token_json(const struct token *t);
/* An array of {type, name, content, priority?, ttl}. */
struct json_object *tenant_dns_json(const struct dnsrec *v, size_t n);

#endif
