--
-- PostgreSQL database dump
--

\restrict XIQisTV6AzTpgHRWgxDs4J91dcLly6z5CY5qMmFBFQ3Cp5Q3i5c2igCiyegBQHO

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: audit_log; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.audit_log (
    seq bigint NOT NULL,
    at bigint NOT NULL,
    action text NOT NULL,
    resource text NOT NULL,
    outcome text NOT NULL,
    record text NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    signature text
);


--
-- Name: chain_head; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.chain_head (
    id bigint NOT NULL,
    seq bigint NOT NULL,
    hash text NOT NULL,
    signed_from bigint DEFAULT 1 NOT NULL
);


--
-- Name: documents; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.documents (
    kind text NOT NULL,
    scope text NOT NULL,
    key text NOT NULL,
    version bigint NOT NULL,
    revision bigint NOT NULL,
    updated_at bigint NOT NULL,
    body text NOT NULL
);


--
-- Name: evaluation_counts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.evaluation_counts (
    project text NOT NULL,
    env text NOT NULL,
    flag text NOT NULL,
    version bigint NOT NULL,
    variation text NOT NULL,
    reason text NOT NULL,
    minute bigint NOT NULL,
    count bigint NOT NULL
);


--
-- Name: event_batches; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.event_batches (
    project text NOT NULL,
    env text NOT NULL,
    batch_id text NOT NULL,
    seen_at bigint NOT NULL,
    attributed bigint NOT NULL
);


--
-- Name: exposures; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.exposures (
    project text NOT NULL,
    env text NOT NULL,
    flag text NOT NULL,
    context_kind text NOT NULL,
    context_key text NOT NULL,
    variation text NOT NULL,
    version bigint NOT NULL,
    reason text NOT NULL,
    first_seen bigint NOT NULL,
    last_seen bigint NOT NULL
);


--
-- Name: metric_aggregates; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.metric_aggregates (
    project text NOT NULL,
    env text NOT NULL,
    metric text NOT NULL,
    flag text NOT NULL,
    variation text NOT NULL,
    minute bigint NOT NULL,
    count bigint NOT NULL,
    sum double precision NOT NULL,
    sum_sq double precision NOT NULL
);


--
-- Name: release_counts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.release_counts (
    project text NOT NULL,
    env text NOT NULL,
    flag text NOT NULL,
    stage text NOT NULL,
    cohort text NOT NULL,
    evaluations bigint NOT NULL
);


--
-- Name: release_exposures; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.release_exposures (
    project text NOT NULL,
    env text NOT NULL,
    context_kind text NOT NULL,
    context_key text NOT NULL,
    flag text NOT NULL,
    stage text NOT NULL,
    cohort text NOT NULL,
    first_seen bigint NOT NULL
);


--
-- Name: release_metrics; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.release_metrics (
    project text NOT NULL,
    env text NOT NULL,
    flag text NOT NULL,
    stage text NOT NULL,
    cohort text NOT NULL,
    metric text NOT NULL,
    count bigint NOT NULL,
    sum double precision NOT NULL,
    sum_sq double precision NOT NULL
);


--
-- Name: schema_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_migrations (
    version bigint NOT NULL,
    name text NOT NULL,
    applied_at bigint NOT NULL
);


--
-- Data for Name: audit_log; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.audit_log VALUES (1, 1796528351678, 'account:create', 'account/admin', 'allowed', '{"at_ms":1796528351678,"actor":{"id":"bootstrap","kind":"system"},"action":"account:create","resource":"account/admin","outcome":"allowed","after":{"account":"admin","project":"default","roles":["admin"]},"comment":"first start"}', '0000000000000000000000000000000000000000000000000000000000000000', 'c26874db9adf5669705e30ac6b24b2ea1ed90837ae098f48e23b16dfd233bd72', '18e51ac1e3e1fad68c70e0a9ba3cb99f1d04ce22d879502beb34677f01f46f3f34ec6017c7adf2e3ff5e0711447cd231d4269af8dedf15cc8c0825954cb37808');
INSERT INTO public.audit_log VALUES (2, 1796528351696, 'flag:create', 'proj/default:flag/checkout', 'allowed', '{"at_ms":1796528351696,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"flag:create","resource":"proj/default:flag/checkout","outcome":"allowed","after":{"archived":false,"client_visible":true,"key":"checkout","kind":"boolean","off_variation":"off","salt":"72b43fbd","tags":[],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]},"request_id":"a318d809d86b1cae"}', 'c26874db9adf5669705e30ac6b24b2ea1ed90837ae098f48e23b16dfd233bd72', '64eb5bd5f3afeca042568a5379176dc71535662886bcf98d8dd2e176add74bce', '5198d43e61617d8d26f0e06e2966fd4bc34485ef6f8a8be0540a5d990034e69fc8c490c92885bd56d698b49846872004bcf956eef49ea08e8a87b74be49a4604');
INSERT INTO public.audit_log VALUES (3, 1796528351714, 'flag:create', 'proj/default:flag/banner', 'allowed', '{"at_ms":1796528351714,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"flag:create","resource":"proj/default:flag/banner","outcome":"allowed","after":{"archived":false,"client_visible":false,"key":"banner","kind":"string","off_variation":"plain","salt":"51b3712a","tags":[],"temporary":false,"variations":[{"key":"plain","value":"hello"},{"key":"german","value":"hallo"}]},"request_id":"2b7bce213f964071"}', '64eb5bd5f3afeca042568a5379176dc71535662886bcf98d8dd2e176add74bce', '5802697990cb674a275d1fd6f829204494836d87ef56eca5fcbc2ac37afe864b', '3b94b9c4a793937a4152fbe4c0d53b7d6c2814a008341d9484ba8e5671fb1de21a566ca2eacac46f5b56e341655cd1b76904e2e1172be4a1784f59bc9f911506');
INSERT INTO public.audit_log VALUES (4, 1796528351750, 'flag:create', 'proj/default:flag/limit', 'allowed', '{"at_ms":1796528351750,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"flag:create","resource":"proj/default:flag/limit","outcome":"allowed","after":{"archived":false,"client_visible":false,"key":"limit","kind":"number","off_variation":"low","salt":"2fe90045","tags":[],"temporary":false,"variations":[{"key":"low","value":10},{"key":"high","value":20.5}]},"request_id":"f49c4c9a8b01382b"}', '5802697990cb674a275d1fd6f829204494836d87ef56eca5fcbc2ac37afe864b', '52ac0cb3ececf318c2527ef4dd36341ba80f75588ce50c22728e203bd2776e8b', 'd06522aa41552b88f49db2f271c5ee59308e51394cf79592c754b0238a9381f70ffaa6323b2e0dfb7a4b4b69010b75da89c6f134075b5e8b80b14ccfcf301907');
INSERT INTO public.audit_log VALUES (5, 1796528351775, 'flag:create', 'proj/default:flag/theme', 'allowed', '{"at_ms":1796528351775,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"flag:create","resource":"proj/default:flag/theme","outcome":"allowed","after":{"archived":false,"client_visible":false,"key":"theme","kind":"json","off_variation":"light","salt":"26b10556","tags":[],"temporary":false,"variations":[{"key":"dark","value":{"bg":"black"}},{"key":"light","value":{"bg":"white"}}]},"request_id":"9c4caba3071ccf98"}', '52ac0cb3ececf318c2527ef4dd36341ba80f75588ce50c22728e203bd2776e8b', '10427b42ba779af6e1918db9b7efed36f0df41f13c9f90cc22b3962a6e4f7b15', '3ea3e53331292162742c32e9a8bc7cec9fec651061eb4cd0ce41b9500e11e1f62ff597dd536baaba9c06b9702d22ed8ecaa7f5cf4c8470a014f2a83d36f5cd0d');
INSERT INTO public.audit_log VALUES (6, 1796528351794, 'flag:update', 'proj/default:env/production:flag/banner', 'allowed', '{"at_ms":1796528351794,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"flag:update","resource":"proj/default:env/production:flag/banner","outcome":"allowed","before":{"fallthrough":{"variation":0},"off_variation":0,"on":false},"after":{"fallthrough":{"variation":0},"off_variation":0,"on":true,"rules":[{"condition":{"attribute":"country","kind":"user","op":"in","values":["DE"]},"id":"de","serve":{"variation":1}}]},"request_id":"4e49a43cf8a9ec32"}', '10427b42ba779af6e1918db9b7efed36f0df41f13c9f90cc22b3962a6e4f7b15', '3d6b222f9664346e02eefdd3d05af9539dba2a803d2659b78deb9078bf501984', '07cd2d0b6154462d96ab31ebe0bfc5b6a7434a25f2e7da85336c80b4198f8d69c8107eea2a67eb9a03375582360d18942211e207fb5f911248309cdfa6d6b400');
INSERT INTO public.audit_log VALUES (7, 1796528351811, 'flag:update', 'proj/default:env/production:flag/checkout', 'allowed', '{"at_ms":1796528351811,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"flag:update","resource":"proj/default:env/production:flag/checkout","outcome":"allowed","before":{"fallthrough":{"variation":0},"off_variation":1,"on":false},"after":{"fallthrough":{"variation":0},"off_variation":1,"on":true},"request_id":"3f38692e4036a176"}', '3d6b222f9664346e02eefdd3d05af9539dba2a803d2659b78deb9078bf501984', '05e4117ed6a712e00e290ef05b967f6d022e94a64128882c1de4beacad3800ae', '64c8235d48f49da819bfb0fc42199cccf61d348f22cd312075f0e7d2fb33ce56f09e7e820d534b29e6d367c89b929e52f3e0140e9ddbcabd0788416c1d2cb10c');
INSERT INTO public.audit_log VALUES (8, 1796528351827, 'flag:update', 'proj/default:env/production:flag/limit', 'allowed', '{"at_ms":1796528351827,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"flag:update","resource":"proj/default:env/production:flag/limit","outcome":"allowed","before":{"fallthrough":{"variation":0},"off_variation":0,"on":false},"after":{"fallthrough":{"rollout":{"context_kind":"user","variations":[{"variation":0,"weight":50000},{"variation":1,"weight":50000}]}},"off_variation":0,"on":true},"request_id":"cc93f9cdd8db7820"}', '05e4117ed6a712e00e290ef05b967f6d022e94a64128882c1de4beacad3800ae', '4430b0ad16ce5ea847561f0bcfb8f6e7c9a8524f084f430c913d25a33596748e', '927b01149d6d1193a922c3b631681430497ddf02516fcb7d2818722dd90455e2e6a65f93202be7f8075861f80c79d051a78208f0e56e966109a7d714b767640b');
INSERT INTO public.audit_log VALUES (9, 1796528351849, 'flag:update', 'proj/default:env/production:flag/theme', 'allowed', '{"at_ms":1796528351849,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"flag:update","resource":"proj/default:env/production:flag/theme","outcome":"allowed","before":{"fallthrough":{"variation":0},"off_variation":1,"on":false},"after":{"fallthrough":{"variation":0},"off_variation":1,"on":false},"request_id":"de5c601f8e764745"}', '4430b0ad16ce5ea847561f0bcfb8f6e7c9a8524f084f430c913d25a33596748e', '3d8a699360cd15ccabc424f773b169954388b4293f19f3fd5a702362d7b4ac07', 'e61ccdf5368f3b56427ff8c05c859222df7efca7283df021145b89fd64023d3914ea25afd7eb4fe23c9ccd3a4cd354ac59aae5e6a971f6cc4ad8ca305eb12c01');
INSERT INTO public.audit_log VALUES (10, 1796528351859, 'segment:create', 'proj/default:env/production:segment/beta', 'allowed', '{"at_ms":1796528351859,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"segment:create","resource":"proj/default:env/production:segment/beta","outcome":"allowed","after":{"included":[{"kind":"user","values":["alice","user-7"]}],"key":"beta","salt":"d6f36c88","version":0},"comment":"beta testers","request_id":"fc086c816d308dc6"}', '3d8a699360cd15ccabc424f773b169954388b4293f19f3fd5a702362d7b4ac07', 'f7ce1af39621c531d8e4640b84ac413051cf7ecd5a439e12f87b5f683140d318', 'c0301d552372359095fe6fc6aed9a6831a055b4e6d70259166e41eef99b0fa7febfe8294128c6ebd68ef53fa6e06ce364956fe598e1844cfb27d96f8b9d1a307');
INSERT INTO public.audit_log VALUES (11, 1796528351870, 'flag:create', 'proj/default:flag/beta-search', 'allowed', '{"at_ms":1796528351870,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"flag:create","resource":"proj/default:flag/beta-search","outcome":"allowed","after":{"archived":false,"client_visible":false,"description":"new search","key":"beta-search","kind":"boolean","off_variation":"off","salt":"85337a4c","tags":["search","beta"],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]},"comment":"for the beta","request_id":"f59fa4edd80c8fca"}', 'f7ce1af39621c531d8e4640b84ac413051cf7ecd5a439e12f87b5f683140d318', '0e61074282d8d248076de550004b29ed6786a23ca23e6e5b2b45c5b063409584', 'e71d127b7fa399d3dcca3dacac94b7da858ad4cdc0f40f8fc3c9e983054bb23150d2e321cfb56e67b8ffd7640a08d9b918865331d53ef2135a1ae628e41e8904');
INSERT INTO public.audit_log VALUES (12, 1796528351889, 'flag:update', 'proj/default:env/production:flag/beta-search', 'allowed', '{"at_ms":1796528351889,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"flag:update","resource":"proj/default:env/production:flag/beta-search","outcome":"allowed","before":{"fallthrough":{"variation":0},"off_variation":1,"on":false},"after":{"fallthrough":{"variation":1},"off_variation":1,"on":true,"rules":[{"condition":{"attribute":"","kind":"user","op":"segment_match","values":["beta"]},"id":"beta","serve":{"variation":0}}]},"request_id":"ff4cf199d984c45e"}', '0e61074282d8d248076de550004b29ed6786a23ca23e6e5b2b45c5b063409584', '8bee077f31b1443766b251b096627718766ac019a1d7d94de57c4620b73a0e8b', 'f98d9c0a2e2736700de90e823ec878a720cee014a358d0a56390afe284dee8b8052f80557a5d81b98f0551ac57a3931f04507d98e1558478a424b421a0fbd909');
INSERT INTO public.audit_log VALUES (13, 1796528351908, 'flag:create', 'proj/default:flag/new-checkout', 'allowed', '{"at_ms":1796528351908,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"flag:create","resource":"proj/default:flag/new-checkout","outcome":"allowed","after":{"archived":false,"client_visible":false,"key":"new-checkout","kind":"boolean","off_variation":"off","salt":"e91ae80e","tags":[],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]},"request_id":"4d6392626d132f7e"}', '8bee077f31b1443766b251b096627718766ac019a1d7d94de57c4620b73a0e8b', '8d5eff5edc510e97160304b075e6e3dfa460eea8145e434df8f4781acba38ce4', 'bd919113512f6ad6434892532db1329f0f53d59c514bf76d0156325d8deae3a11c981db23753e21d1ae8e9841c7ce058058b8acb6fb2354a7da23b7888c46c05');
INSERT INTO public.audit_log VALUES (14, 1796528351920, 'flag:update', 'proj/default:env/production:flag/new-checkout', 'allowed', '{"at_ms":1796528351920,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"flag:update","resource":"proj/default:env/production:flag/new-checkout","outcome":"allowed","before":{"fallthrough":{"variation":0},"off_variation":1,"on":false},"after":{"fallthrough":{"variation":1},"off_variation":1,"on":true},"request_id":"747dc72e0dcbecd9"}', '8d5eff5edc510e97160304b075e6e3dfa460eea8145e434df8f4781acba38ce4', 'd6510010e7895007a44f5540747acc276459ba2a3b2e0a58e434985edc0844ed', '501b323f491f0b274d349419343871fcd72f25221d57269ded351da070206fdd631be478ecfe99c84e96911ee62594183574d8e5011f1e9075b71a5a484d450b');
INSERT INTO public.audit_log VALUES (15, 1796528351950, 'release:create', 'proj/default:env/production:release/da621d94', 'allowed', '{"at_ms":1796528351950,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"release:create","resource":"proj/default:env/production:release/da621d94","outcome":"allowed","after":{"hold":null,"serve":{"release":{"context_kind":"user","previous":{"variation":1},"seed":"release-da621d94","stage":"da621d94.0","variation":0,"weight":20000}},"stage":0,"stage_name":"20 %","state":"running"},"comment":"started at stage 0 (20 %)","request_id":"b159ae2fb887b06d"}', 'd6510010e7895007a44f5540747acc276459ba2a3b2e0a58e434985edc0844ed', 'f6bb6b7e274d9232404d75892e2158a0ac79eccbe30ed53fc62a55c40854d564', 'c4dd63bfdadfabf1efe843bf6f3ae67683807ba4a48033bf5560d446908ee31798578b14095deb527041dd052acb36bae8a065dc1809051191c05a2e68820b0d');
INSERT INTO public.audit_log VALUES (18, 1796528351973, 'flag:create', 'proj/shop:flag/old-banner', 'allowed', '{"at_ms":1796528351973,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"flag:create","resource":"proj/shop:flag/old-banner","outcome":"allowed","after":{"archived":true,"client_visible":false,"key":"old-banner","kind":"boolean","off_variation":"off","salt":"57bc7051","tags":[],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]},"request_id":"b0a9aa1c39a274cf"}', '897ed4a0ff5080b18d900051dd385c243c930e4eb952b2091333b46a7fb8be78', 'e6265f36bf4903821b743dac46d4d9095210950bd7a569e70b3eaf7c92e8fcef', '6e514c6ffb98f7d00bac26fbe190c9dc58bb6be73eb67e6d66528c1ca8f9470f35118364db1c623fada2fd8788e4693ce62f617dc713209f9968bc48444aeb0d');
INSERT INTO public.audit_log VALUES (16, 1796528351963, 'release:pause', 'proj/default:env/production:release/da621d94', 'allowed', '{"at_ms":1796528351963,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"release:pause","resource":"proj/default:env/production:release/da621d94","outcome":"allowed","before":{"hold":null,"serve":{"release":{"context_kind":"user","previous":{"variation":1},"seed":"release-da621d94","stage":"da621d94.0","variation":0,"weight":20000}},"stage":0,"stage_name":"20 %","state":"running"},"after":{"hold":{"reason":"paused by token:7e029e5f32ec6eb4","since_ms":1796528351963},"serve":{"release":{"context_kind":"user","previous":{"variation":1},"seed":"release-da621d94","stage":"da621d94.0","variation":0,"weight":20000}},"stage":0,"stage_name":"20 %","state":"holding"},"comment":"waiting for the on-call","request_id":"429e840b9d87c5fb"}', 'f6bb6b7e274d9232404d75892e2158a0ac79eccbe30ed53fc62a55c40854d564', '21593d9cd3cf7efd4649cff43a4f37d66c374f0ac71cf99c89c83f5687ccdd34', '711abef5debf9ec9c97011bfbb8e2321cbe29999931a5421865e9efff6a692b8a9d35a4145830e68ed9e20a7083026c93ff4ef7af057896de47908f704fa8908');
INSERT INTO public.audit_log VALUES (17, 1796528351969, 'project:create', 'proj/shop', 'allowed', '{"at_ms":1796528351969,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"project:create","resource":"proj/shop","outcome":"allowed","after":{"description":"the web shop","key":"shop","name":"Shop"},"request_id":"096ab5b20e431067"}', '21593d9cd3cf7efd4649cff43a4f37d66c374f0ac71cf99c89c83f5687ccdd34', '897ed4a0ff5080b18d900051dd385c243c930e4eb952b2091333b46a7fb8be78', '4ac9d7e2a4e656f795fbd5a58cd0ad896313f7b81568cca7e5560d9f0e118f66454fd621ba2eea727d066967504d23627f89c59d481db0302a23f8212af52703');
INSERT INTO public.audit_log VALUES (19, 1796528351977, 'role:create', 'role/flag-operator', 'allowed', '{"at_ms":1796528351977,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"role:create","resource":"role/flag-operator","outcome":"allowed","after":{"description":"","name":"flag-operator","statements":[{"actions":["flag:read","flag:toggle"],"effect":"allow","resources":["proj/default:*"]}]},"request_id":"b9eb635f831a0a72"}', 'e6265f36bf4903821b743dac46d4d9095210950bd7a569e70b3eaf7c92e8fcef', '61d01a97bc0d61b6e17f227587cc3db20134195a8c1207265354caae94c8c11c', '5de7c7d5cb5fa114d8b83aac7dd209d211e1784bc872dcd4bec33be250d50a6d04c09d1525ce98022cf4e620f3558a3ea0a502598e169bd0d4275dd9618d7b0d');
INSERT INTO public.audit_log VALUES (20, 1796528352710, 'account:create', 'account/dana', 'allowed', '{"at_ms":1796528352710,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"account:create","resource":"account/dana","outcome":"allowed","after":{"disabled":false,"has_password":true,"name":"dana","roles":["flag-operator"],"version":0},"request_id":"590888cf86baddfe"}', '61d01a97bc0d61b6e17f227587cc3db20134195a8c1207265354caae94c8c11c', '0cb03fa9c154f3f92cbe8ee459faabe8bc6bd811565d7cf74fc8ab2785253837', 'c11538489d2c1ac3380d46416805375157ebe808c93ef235ee8d9fa6db8081b749e655d726f302ffb0b5294439eefee3331195223743d0efe165318ecd748200');
INSERT INTO public.audit_log VALUES (21, 1796528352719, 'token:create', 'account/dana:token/1222a33c9c5ca956', 'allowed', '{"at_ms":1796528352719,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"token:create","resource":"account/dana:token/1222a33c9c5ca956","outcome":"allowed","after":{"account":"dana","created_at_ms":1796528352719,"expires_at_ms":1799120352719,"id":"1222a33c9c5ca956","name":"dana-ci"},"request_id":"62df9b7dcec6ad71"}', '0cb03fa9c154f3f92cbe8ee459faabe8bc6bd811565d7cf74fc8ab2785253837', 'faa899f707180642ad4fd8dbc81589aeba2f7254b16aeadc15829086ebb6f47e', '52e113ab8c2c9dc1aa9b1d78a3d4ae90f4dd09f8917182ac11bcc37d4a70adbcd49522f2ebbcad7472752b4f37afce4d1ab5681c197605d4cd63d162b39bec05');
INSERT INTO public.audit_log VALUES (22, 1796528352730, 'token:create', 'account/admin:token/f74e8ce999822d64', 'allowed', '{"at_ms":1796528352730,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"token:create","resource":"account/admin:token/f74e8ce999822d64","outcome":"allowed","after":{"account":"admin","created_at_ms":1796528352730,"expires_at_ms":1804304352730,"id":"f74e8ce999822d64","name":"deploy-bot"},"comment":"no expiry given","request_id":"0353975b3a4ee356"}', 'faa899f707180642ad4fd8dbc81589aeba2f7254b16aeadc15829086ebb6f47e', '02b2ef3d0bb90c4f27ef791a888f58a573836e636a4ff77bfc703689629a385c', '23c7842477e8dd8e601be3e720f0a0e00f1053ecd16738e3f0486f733ad90446a4a47e3b104f3be1bebec78897aac1a37fe2df0bf5ec31a25e51af06eb2cb402');
INSERT INTO public.audit_log VALUES (23, 1796528352739, 'sdk-key:create', 'proj/default:env/production:sdk-key/76c5d0e4fb8328ed', 'allowed', '{"at_ms":1796528352739,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"sdk-key:create","resource":"proj/default:env/production:sdk-key/76c5d0e4fb8328ed","outcome":"allowed","after":{"created_at_ms":1796528352739,"environment":"production","id":"76c5d0e4fb8328ed","kind":"server","name":"server key","project":"default"},"request_id":"be9d7068cfba1b2f"}', '02b2ef3d0bb90c4f27ef791a888f58a573836e636a4ff77bfc703689629a385c', '8e8700adfaaf2670dd66be1c9559b67a70745a6ae8b1f16d93d73bae019bdcd3', '54da3044444a39a9a2c8d688bd80c27ec5ffa5a4f88c763e13b272e93e9684a7ecdf3817e3ffa6c7098bbbbfd9636d8cc6a044fea7c0d2b02349a0e0e729590e');
INSERT INTO public.audit_log VALUES (24, 1796528352755, 'sdk-key:create', 'proj/default:env/production:sdk-key/dc6f8bdcaaa140d0', 'allowed', '{"at_ms":1796528352755,"actor":{"account":"admin","id":"7e029e5f32ec6eb4","kind":"token"},"action":"sdk-key:create","resource":"proj/default:env/production:sdk-key/dc6f8bdcaaa140d0","outcome":"allowed","after":{"created_at_ms":1796528352755,"environment":"production","id":"dc6f8bdcaaa140d0","kind":"client","name":"client key","project":"default"},"request_id":"1ae0d31c4019c08f"}', '8e8700adfaaf2670dd66be1c9559b67a70745a6ae8b1f16d93d73bae019bdcd3', '2e04163d47d7abb204720943bfc1c2425a2150801fd363bfed4ee3dbba023d81', '01dc0d3fe8ea96f21c84c17aa6f54b6b17b06ae598656744c19e692b17041116135ba557123389a9e52e70fd7aea9bd0001372c969696cdffc4a35461dea430b');


--
-- Data for Name: chain_head; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.chain_head VALUES (1, 24, '2e04163d47d7abb204720943bfc1c2425a2150801fd363bfed4ee3dbba023d81', 1);


--
-- Data for Name: documents; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.documents VALUES ('account', '', 'admin', 1, 1, 1796528351678, '{"created_at_ms":1796528351678,"disabled":false,"name":"admin","password_hash":"$argon2id$v=19$m=19456,t=2,p=1$CfUPHvY1KXbgrDggbwFO9A$TFn29pn68eOZSMLePgqsqnlPWxyEpwKKNH4TGXoj4Os","roles":["admin"]}');
INSERT INTO public.documents VALUES ('token', '', '7e029e5f32ec6eb4', 1, 1, 1796528351678, '{"account":"admin","created_at_ms":1796528351678,"id":"7e029e5f32ec6eb4","name":"bootstrap","secret_hash":"094792eb4fb8c688870652e882dbade9d784c9099ead72b7408ed006b3e46209"}');
INSERT INTO public.documents VALUES ('project', '', 'default', 1, 1, 1796528351678, '{"description":"","key":"default","name":"Default project"}');
INSERT INTO public.documents VALUES ('upgrade', '', 'explicit-off-variation', 1, 1, 1796528351678, '{"at_ms":1796528351678,"flags":0}');
INSERT INTO public.documents VALUES ('environment', 'default', 'production', 1, 1, 1796528351678, '{"critical":true,"description":"","key":"production","name":"production"}');
INSERT INTO public.documents VALUES ('environment', 'default', 'staging', 1, 1, 1796528351678, '{"critical":false,"description":"","key":"staging","name":"staging"}');
INSERT INTO public.documents VALUES ('flag', 'default', 'checkout', 1, 2, 1796528351696, '{"archived":false,"client_visible":true,"key":"checkout","kind":"boolean","off_variation":"off","salt":"72b43fbd","tags":[],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]}');
INSERT INTO public.documents VALUES ('flag', 'default', 'banner', 1, 3, 1796528351714, '{"archived":false,"client_visible":false,"key":"banner","kind":"string","off_variation":"plain","salt":"51b3712a","tags":[],"temporary":false,"variations":[{"key":"plain","value":"hello"},{"key":"german","value":"hallo"}]}');
INSERT INTO public.documents VALUES ('flag', 'default', 'limit', 1, 4, 1796528351750, '{"archived":false,"client_visible":false,"key":"limit","kind":"number","off_variation":"low","salt":"2fe90045","tags":[],"temporary":false,"variations":[{"key":"low","value":10},{"key":"high","value":20.5}]}');
INSERT INTO public.documents VALUES ('flag', 'default', 'theme', 1, 5, 1796528351775, '{"archived":false,"client_visible":false,"key":"theme","kind":"json","off_variation":"light","salt":"26b10556","tags":[],"temporary":false,"variations":[{"key":"dark","value":{"bg":"black"}},{"key":"light","value":{"bg":"white"}}]}');
INSERT INTO public.documents VALUES ('targeting', 'default/production', 'banner', 1, 6, 1796528351794, '{"fallthrough":{"variation":0},"off_variation":0,"on":true,"rules":[{"condition":{"attribute":"country","kind":"user","op":"in","values":["DE"]},"id":"de","serve":{"variation":1}}]}');
INSERT INTO public.documents VALUES ('targeting', 'default/production', 'checkout', 1, 7, 1796528351811, '{"fallthrough":{"variation":0},"off_variation":1,"on":true}');
INSERT INTO public.documents VALUES ('targeting', 'default/production', 'limit', 1, 8, 1796528351827, '{"fallthrough":{"rollout":{"context_kind":"user","variations":[{"variation":0,"weight":50000},{"variation":1,"weight":50000}]}},"off_variation":0,"on":true}');
INSERT INTO public.documents VALUES ('targeting', 'default/production', 'theme', 1, 9, 1796528351849, '{"fallthrough":{"variation":0},"off_variation":1,"on":false}');
INSERT INTO public.documents VALUES ('segment', 'default/production', 'beta', 1, 10, 1796528351859, '{"included":[{"kind":"user","values":["alice","user-7"]}],"key":"beta","salt":"d6f36c88","version":0}');
INSERT INTO public.documents VALUES ('flag', 'default', 'beta-search', 1, 11, 1796528351870, '{"archived":false,"client_visible":false,"description":"new search","key":"beta-search","kind":"boolean","off_variation":"off","salt":"85337a4c","tags":["search","beta"],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]}');
INSERT INTO public.documents VALUES ('targeting', 'default/production', 'beta-search', 1, 12, 1796528351889, '{"fallthrough":{"variation":1},"off_variation":1,"on":true,"rules":[{"condition":{"attribute":"","kind":"user","op":"segment_match","values":["beta"]},"id":"beta","serve":{"variation":0}}]}');
INSERT INTO public.documents VALUES ('flag', 'default', 'new-checkout', 1, 13, 1796528351908, '{"archived":false,"client_visible":false,"key":"new-checkout","kind":"boolean","off_variation":"off","salt":"e91ae80e","tags":[],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]}');
INSERT INTO public.documents VALUES ('targeting', 'default/production', 'new-checkout', 2, 15, 1796528351950, '{"fallthrough":{"release":{"context_kind":"user","previous":{"variation":1},"seed":"release-da621d94","stage":"da621d94.0","variation":0,"weight":20000}},"off_variation":1,"on":true}');
INSERT INTO public.documents VALUES ('release', '', 'da621d94', 2, 16, 1796528351963, '{"alpha":0.01,"carried_ln_e":{},"created_ms":1796528351950,"environment":"production","flag":"new-checkout","guardrails":[],"history":[{"actor":"token:7e029e5f32ec6eb4","at_ms":1796528351950,"detail":"started at stage 0 (20 %)","event":"release:create"},{"actor":"token:7e029e5f32ec6eb4","at_ms":1796528351963,"detail":"waiting for the on-call","event":"release:pause"}],"hold":{"reason":"paused by token:7e029e5f32ec6eb4","since_ms":1796528351963},"hold_timeout_s":3600,"id":"da621d94","on_breach":"roll_back","project":"default","seed":"release-da621d94","stage":0,"stage_started_ms":1796528351950,"stages":[{"min_bake_s":3600,"min_treated":0,"name":"20 %","weight":20000},{"min_bake_s":0,"min_treated":0,"name":"100 %","weight":100000}],"stale_after_s":600,"state":"holding","variation":"on","windows":[]}');
INSERT INTO public.documents VALUES ('project', '', 'shop', 1, 17, 1796528351969, '{"description":"the web shop","key":"shop","name":"Shop"}');
INSERT INTO public.documents VALUES ('flag', 'shop', 'old-banner', 1, 18, 1796528351973, '{"archived":true,"client_visible":false,"key":"old-banner","kind":"boolean","off_variation":"off","salt":"57bc7051","tags":[],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]}');
INSERT INTO public.documents VALUES ('role', '', 'flag-operator', 1, 19, 1796528351977, '{"description":"","name":"flag-operator","statements":[{"actions":["flag:read","flag:toggle"],"effect":"allow","resources":["proj/default:*"]}]}');
INSERT INTO public.documents VALUES ('account', '', 'dana', 1, 20, 1796528352710, '{"created_at_ms":1796528352710,"disabled":false,"name":"dana","password_hash":"$argon2id$v=19$m=19456,t=2,p=1$yjIleuZ3I+xkI72Skq10Hw$UJmu6oeB4sl8a4+tqz7KZV8KJFd2nC3aNSwmsF8pFEM","roles":["flag-operator"]}');
INSERT INTO public.documents VALUES ('token', '', '1222a33c9c5ca956', 1, 21, 1796528352719, '{"account":"dana","created_at_ms":1796528352719,"expires_at_ms":1799120352719,"id":"1222a33c9c5ca956","name":"dana-ci","secret_hash":"851a9dcb18b002de523e6de2505de917ef5af95266191a29426bfc1df37dfde1"}');
INSERT INTO public.documents VALUES ('token', '', 'f74e8ce999822d64', 1, 22, 1796528352730, '{"account":"admin","created_at_ms":1796528352730,"expires_at_ms":1804304352730,"id":"f74e8ce999822d64","name":"deploy-bot","secret_hash":"ac94e299a989bd324a8328e80a1be7263e3af41a872c7993548b3f9b842c592e"}');
INSERT INTO public.documents VALUES ('sdk_key', 'default/production', '76c5d0e4fb8328ed', 1, 23, 1796528352739, '{"created_at_ms":1796528352739,"id":"76c5d0e4fb8328ed","kind":"server","name":"server key","secret_hash":"8c3831b2e96afc21e0edd4e326301a2afcc7ed53d58d036736aed20ed885e65a"}');
INSERT INTO public.documents VALUES ('sdk_key', 'default/production', 'dc6f8bdcaaa140d0', 1, 24, 1796528352755, '{"created_at_ms":1796528352755,"id":"dc6f8bdcaaa140d0","kind":"client","name":"client key","secret_hash":"f5a9e345540778b35ae3137a49edd95a6dfe4bc91041221a7952c0ddd17df7f3"}');


--
-- Data for Name: evaluation_counts; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.evaluation_counts VALUES ('default', 'production', 'limit', 2, 'high', 'FALLTHROUGH', 1796528340000, 17);
INSERT INTO public.evaluation_counts VALUES ('default', 'production', 'limit', 2, 'low', 'FALLTHROUGH', 1796528340000, 23);
INSERT INTO public.evaluation_counts VALUES ('default', 'production', 'checkout', 2, 'on', 'FALLTHROUGH', 1796528340000, 40);


--
-- Data for Name: event_batches; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.event_batches VALUES ('default', 'production', 'b8d92d8496ffc74d65988251ffc0ab60', 1796528352775, 50);


--
-- Data for Name: exposures; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-0', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-0', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-1', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-1', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-2', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-2', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-3', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-3', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-4', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-4', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-5', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-5', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-6', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-6', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-7', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-7', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-8', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-8', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-9', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-9', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-10', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-10', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-11', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-11', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-12', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-12', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-13', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-13', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-14', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-14', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-15', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-15', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-16', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-16', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-17', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-17', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-18', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-18', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-19', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-19', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-20', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-20', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-21', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-21', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-22', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-22', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-23', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-23', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-24', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-24', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-25', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-25', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-26', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-26', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-27', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-27', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-28', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-28', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-29', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-29', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-30', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-30', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-31', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-31', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-32', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-32', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-33', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-33', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-34', 'high', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-34', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-35', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-35', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-36', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-36', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-37', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-37', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-38', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-38', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'limit', 'user', 'user-39', 'low', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);
INSERT INTO public.exposures VALUES ('default', 'production', 'checkout', 'user', 'user-39', 'on', 2, 'FALLTHROUGH', 1796528352771, 1796528352771);


--
-- Data for Name: metric_aggregates; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.metric_aggregates VALUES ('default', 'production', 'error', 'checkout', 'on', 1796528340000, 10, 10, 10);
INSERT INTO public.metric_aggregates VALUES ('default', 'production', 'error', 'limit', 'high', 1796528340000, 2, 2, 2);
INSERT INTO public.metric_aggregates VALUES ('default', 'production', 'error', 'limit', 'low', 1796528340000, 8, 8, 8);
INSERT INTO public.metric_aggregates VALUES ('default', 'production', 'latency_ms', 'checkout', 'on', 1796528340000, 40, 155, 755);
INSERT INTO public.metric_aggregates VALUES ('default', 'production', 'latency_ms', 'limit', 'high', 1796528340000, 17, 66, 330);
INSERT INTO public.metric_aggregates VALUES ('default', 'production', 'latency_ms', 'limit', 'low', 1796528340000, 23, 89, 425);


--
-- Data for Name: release_counts; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: release_exposures; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: release_metrics; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: schema_migrations; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.schema_migrations VALUES (1, 'initial', 1796528350574);
INSERT INTO public.schema_migrations VALUES (2, 'events', 1796528350609);
INSERT INTO public.schema_migrations VALUES (3, 'releases', 1796528350660);
INSERT INTO public.schema_migrations VALUES (4, 'audit_signatures', 1796528350670);
INSERT INTO public.schema_migrations VALUES (5, 'event_batch_ids', 1796528350688);


--
-- Name: audit_log audit_log_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.audit_log
    ADD CONSTRAINT audit_log_pkey PRIMARY KEY (seq);


--
-- Name: chain_head chain_head_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.chain_head
    ADD CONSTRAINT chain_head_pkey PRIMARY KEY (id);


--
-- Name: documents documents_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.documents
    ADD CONSTRAINT documents_pkey PRIMARY KEY (kind, scope, key);


--
-- Name: evaluation_counts evaluation_counts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.evaluation_counts
    ADD CONSTRAINT evaluation_counts_pkey PRIMARY KEY (project, env, flag, version, variation, reason, minute);


--
-- Name: event_batches event_batches_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.event_batches
    ADD CONSTRAINT event_batches_pkey PRIMARY KEY (project, env, batch_id);


--
-- Name: exposures exposures_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.exposures
    ADD CONSTRAINT exposures_pkey PRIMARY KEY (project, env, flag, context_kind, context_key, variation);


--
-- Name: metric_aggregates metric_aggregates_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.metric_aggregates
    ADD CONSTRAINT metric_aggregates_pkey PRIMARY KEY (project, env, metric, flag, variation, minute);


--
-- Name: release_counts release_counts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.release_counts
    ADD CONSTRAINT release_counts_pkey PRIMARY KEY (project, env, flag, stage, cohort);


--
-- Name: release_exposures release_exposures_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.release_exposures
    ADD CONSTRAINT release_exposures_pkey PRIMARY KEY (project, env, context_kind, context_key, flag, stage, cohort);


--
-- Name: release_metrics release_metrics_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.release_metrics
    ADD CONSTRAINT release_metrics_pkey PRIMARY KEY (project, env, flag, stage, cohort, metric);


--
-- Name: schema_migrations schema_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);


--
-- Name: documents_by_key; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX documents_by_key ON public.documents USING btree (kind, key);


--
-- Name: event_batches_by_seen_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX event_batches_by_seen_at ON public.event_batches USING btree (seen_at);


--
-- Name: exposures_by_context; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX exposures_by_context ON public.exposures USING btree (project, env, context_kind, context_key);


--
-- Name: exposures_by_last_seen; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX exposures_by_last_seen ON public.exposures USING btree (last_seen);


--
-- Name: release_exposures_by_first_seen; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX release_exposures_by_first_seen ON public.release_exposures USING btree (first_seen);


--
-- Name: release_exposures_by_stage; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX release_exposures_by_stage ON public.release_exposures USING btree (project, env, flag, stage);


--
-- PostgreSQL database dump complete
--

\unrestrict XIQisTV6AzTpgHRWgxDs4J91dcLly6z5CY5qMmFBFQ3Cp5Q3i5c2igCiyegBQHO

