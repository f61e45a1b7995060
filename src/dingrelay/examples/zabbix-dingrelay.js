// dingrelay webhook media type for Zabbix 5.0 and later: posts one alert to dingrelay as JSON.
// Parameters: url (http(s)://<dingrelay>/hooks/zabbix/<source>), token (the source's token), optional
// http_proxy, and the event's macros (event_id = {EVENT.ID}, event_name = {EVENT.NAME}, ...: README "Zabbix").
// Every parameter but url, token and http_proxy is posted under its own name; a macro Zabbix could not resolve
// ("{EVENT.RECOVERY.DATE}" in a problem, "*UNKNOWN*") is posted empty. dingrelay answers 202 once the card is
// stored; anything else fails the alert, and Zabbix retries it as the media type's Attempts say.
var UNRESOLVED = /^(\{[A-Z0-9_.$#:"]+\}|\*UNKNOWN\*)$/;
var OWN = {url: true, token: true, http_proxy: true};

function log(message) {
    if (typeof Zabbix.log === 'function') {
        Zabbix.log(3, '[dingrelay webhook] ' + message);
    } else {
        Zabbix.Log(3, '[dingrelay webhook] ' + message);
    }
}

function client() {
    if (typeof HttpRequest !== 'undefined') {
        var r = new HttpRequest();
        return {header: function (h) { r.addHeader(h); }, proxy: function (p) { r.setProxy(p); },
                post: function (u, b) { return r.post(u, b); }, status: function () { return r.getStatus(); }};
    }
    var c = new CurlHttpRequest();  // Zabbix 5.0 and 5.2
    return {header: function (h) { c.AddHeader(h); }, proxy: function (p) { c.SetProxy(p); },
            post: function (u, b) { return c.Post(u, b); }, status: function () { return c.Status(); }};
}

function blank(text) {
    return typeof text !== 'string' || text.trim() === '' || UNRESOLVED.test(text.trim());
}

try {
    var params = JSON.parse(value), body = {}, key;
    if (blank(params.url) || !/^https?:\/\//.test(params.url)) {
        throw 'the parameter url must be http(s)://<dingrelay>/hooks/zabbix/<source>';
    }
    if (blank(params.token)) {
        throw 'the parameter token is empty: set it to the token of the dingrelay source';
    }
    for (key in params) {
        if (params.hasOwnProperty(key) && !OWN[key]) {
            body[key] = blank(params[key]) ? '' : params[key];
        }
    }
    if (typeof body.event_tags === 'string' && body.event_tags.charAt(0) === '[') {
        try {
            body.event_tags = JSON.parse(body.event_tags);  // {EVENT.TAGSJSON}
        } catch (ignored) {
            // not JSON after all: dingrelay reads "tag:value, tag:value" ({EVENT.TAGS})
        }
    }
    var http = client();
    if (!blank(params.http_proxy)) {
        http.proxy(params.http_proxy);
    }
    http.header('Content-Type: application/json');
    http.header('Authorization: Bearer ' + params.token);
    var answer = http.post(params.url, JSON.stringify(body));
    var status = http.status();
    if (status < 200 || status >= 300) {
        throw 'dingrelay answered HTTP ' + status + ': ' + String(answer).substring(0, 500);
    }
    return 'OK';
} catch (error) {
    log('failed: ' + error);
    throw 'dingrelay: ' + error;
}
