PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL);
INSERT INTO schema_migrations VALUES(1,'initial',1796528343834);
INSERT INTO schema_migrations VALUES(2,'events',1796528343857);
INSERT INTO schema_migrations VALUES(3,'releases',1796528343863);
INSERT INTO schema_migrations VALUES(4,'audit_signatures',1796528343865);
INSERT INTO schema_migrations VALUES(5,'event_batch_ids',1796528343873);
CREATE TABLE documents (
    kind TEXT NOT NULL,
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    version BIGINT NOT NULL,
    revision BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, scope, key)
);
INSERT INTO documents VALUES('account','','admin',1,1,1796528345062,'{"created_at_ms":1796528345062,"disabled":false,"name":"admin","password_hash":"$argon2id$v=19$m=19456,t=2,p=1$0liWyRswtRCvrotYdT+baw$N2VNwOvztzV5Nt/MM8gFJ4B9Zgr0783cz1wGeCaGblY","roles":["admin"]}');
INSERT INTO documents VALUES('token','','4c32d72d46a452c7',1,1,1796528345062,'{"account":"admin","created_at_ms":1796528345062,"id":"4c32d72d46a452c7","name":"bootstrap","secret_hash":"232fc7fb4a0633ac83354e412dd6e22ca8205975edc3ca75bb39e463b39723cc"}');
INSERT INTO documents VALUES('project','','default',1,1,1796528345062,'{"description":"","key":"default","name":"Default project"}');
INSERT INTO documents VALUES('upgrade','','explicit-off-variation',1,1,1796528345062,'{"at_ms":1796528345062,"flags":0}');
INSERT INTO documents VALUES('environment','default','production',1,1,1796528345062,'{"critical":true,"description":"","key":"production","name":"production"}');
INSERT INTO documents VALUES('environment','default','staging',1,1,1796528345062,'{"critical":false,"description":"","key":"staging","name":"staging"}');
INSERT INTO documents VALUES('flag','default','checkout',1,2,1796528345077,'{"archived":false,"client_visible":true,"key":"checkout","kind":"boolean","off_variation":"off","salt":"f9ba7faf","tags":[],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]}');
INSERT INTO documents VALUES('flag','default','banner',1,3,1796528345104,'{"archived":false,"client_visible":false,"key":"banner","kind":"string","off_variation":"plain","salt":"0da7794f","tags":[],"temporary":false,"variations":[{"key":"plain","value":"hello"},{"key":"german","value":"hallo"}]}');
INSERT INTO documents VALUES('flag','default','limit',1,4,1796528345126,'{"archived":false,"client_visible":false,"key":"limit","kind":"number","off_variation":"low","salt":"234373c8","tags":[],"temporary":false,"variations":[{"key":"low","value":10},{"key":"high","value":20.5}]}');
INSERT INTO documents VALUES('flag','default','theme',1,5,1796528345138,'{"archived":false,"client_visible":false,"key":"theme","kind":"json","off_variation":"light","salt":"995cee04","tags":[],"temporary":false,"variations":[{"key":"dark","value":{"bg":"black"}},{"key":"light","value":{"bg":"white"}}]}');
INSERT INTO documents VALUES('targeting','default/production','banner',1,6,1796528345146,'{"fallthrough":{"variation":0},"off_variation":0,"on":true,"rules":[{"condition":{"attribute":"country","kind":"user","op":"in","values":["DE"]},"id":"de","serve":{"variation":1}}]}');
INSERT INTO documents VALUES('targeting','default/production','checkout',1,7,1796528345155,'{"fallthrough":{"variation":0},"off_variation":1,"on":true}');
INSERT INTO documents VALUES('targeting','default/production','limit',1,8,1796528345163,'{"fallthrough":{"rollout":{"context_kind":"user","variations":[{"variation":0,"weight":50000},{"variation":1,"weight":50000}]}},"off_variation":0,"on":true}');
INSERT INTO documents VALUES('targeting','default/production','theme',1,9,1796528345172,'{"fallthrough":{"variation":0},"off_variation":1,"on":false}');
INSERT INTO documents VALUES('segment','default/production','beta',1,10,1796528345178,'{"included":[{"kind":"user","values":["alice","user-7"]}],"key":"beta","salt":"034e8436","version":0}');
INSERT INTO documents VALUES('flag','default','beta-search',1,11,1796528345186,'{"archived":false,"client_visible":false,"description":"new search","key":"beta-search","kind":"boolean","off_variation":"off","salt":"dda18f36","tags":["search","beta"],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]}');
INSERT INTO documents VALUES('targeting','default/production','beta-search',1,12,1796528345194,'{"fallthrough":{"variation":1},"off_variation":1,"on":true,"rules":[{"condition":{"attribute":"","kind":"user","op":"segment_match","values":["beta"]},"id":"beta","serve":{"variation":0}}]}');
INSERT INTO documents VALUES('flag','default','new-checkout',1,13,1796528345202,'{"archived":false,"client_visible":false,"key":"new-checkout","kind":"boolean","off_variation":"off","salt":"120263ba","tags":[],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]}');
INSERT INTO documents VALUES('targeting','default/production','new-checkout',2,15,1796528345216,'{"fallthrough":{"release":{"context_kind":"user","previous":{"variation":1},"seed":"release-344edceb","stage":"344edceb.0","variation":0,"weight":20000}},"off_variation":1,"on":true}');
INSERT INTO documents VALUES('release','','344edceb',2,16,1796528345226,'{"alpha":0.01,"carried_ln_e":{},"created_ms":1796528345216,"environment":"production","flag":"new-checkout","guardrails":[],"history":[{"actor":"token:4c32d72d46a452c7","at_ms":1796528345216,"detail":"started at stage 0 (20 %)","event":"release:create"},{"actor":"token:4c32d72d46a452c7","at_ms":1796528345226,"detail":"waiting for the on-call","event":"release:pause"}],"hold":{"reason":"paused by token:4c32d72d46a452c7","since_ms":1796528345226},"hold_timeout_s":3600,"id":"344edceb","on_breach":"roll_back","project":"default","seed":"release-344edceb","stage":0,"stage_started_ms":1796528345216,"stages":[{"min_bake_s":3600,"min_treated":0,"name":"20 %","weight":20000},{"min_bake_s":0,"min_treated":0,"name":"100 %","weight":100000}],"stale_after_s":600,"state":"holding","variation":"on","windows":[]}');
INSERT INTO documents VALUES('project','','shop',1,17,1796528345231,'{"description":"the web shop","key":"shop","name":"Shop"}');
INSERT INTO documents VALUES('flag','shop','old-banner',1,18,1796528345235,'{"archived":true,"client_visible":false,"key":"old-banner","kind":"boolean","off_variation":"off","salt":"65690720","tags":[],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]}');
INSERT INTO documents VALUES('role','','flag-operator',1,19,1796528345244,'{"description":"","name":"flag-operator","statements":[{"actions":["flag:read","flag:toggle"],"effect":"allow","resources":["proj/default:*"]}]}');
INSERT INTO documents VALUES('account','','dana',1,20,1796528346514,'{"created_at_ms":1796528346513,"disabled":false,"name":"dana","password_hash":"$argon2id$v=19$m=19456,t=2,p=1$prL5FWTbfmt7suMiU2kQ9g$2JW1lhap95w51l5EqfZOdmZZUF+v+BAcKIjfILu6bnk","roles":["flag-operator"]}');
INSERT INTO documents VALUES('token','','c11194d0b8094fa4',1,21,1796528346522,'{"account":"dana","created_at_ms":1796528346522,"expires_at_ms":1799120346522,"id":"c11194d0b8094fa4","name":"dana-ci","secret_hash":"3e07209aa0b2ca861465b49caea5df3c06581b6e6b43fdba375208a7a1852df9"}');
INSERT INTO documents VALUES('token','','633d758588a927fc',1,22,1796528346526,'{"account":"admin","created_at_ms":1796528346526,"expires_at_ms":1804304346526,"id":"633d758588a927fc","name":"deploy-bot","secret_hash":"ba941eb1e4adc0fc30a7a01aae5803530f37bfc1a54ac59a8eceb5a56795bff6"}');
INSERT INTO documents VALUES('sdk_key','default/production','82236906eda35bff',1,23,1796528346531,'{"created_at_ms":1796528346531,"id":"82236906eda35bff","kind":"server","name":"server key","secret_hash":"13405e813fb3afb52e4aad3b935d70191b5948fa44bc9af976b556c7da8566df"}');
INSERT INTO documents VALUES('sdk_key','default/production','154b67fbe42eda52',1,24,1796528346535,'{"created_at_ms":1796528346535,"id":"154b67fbe42eda52","kind":"client","name":"client key","secret_hash":"d48fa0e77588b22ab4492f56977f187c95551949a98589b73184337981e39d41"}');
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    resource TEXT NOT NULL,
    outcome TEXT NOT NULL,
    record TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
, signature TEXT);
INSERT INTO audit_log VALUES(1,1796528345062,'account:create','account/admin','allowed','{"at_ms":1796528345062,"actor":{"id":"bootstrap","kind":"system"},"action":"account:create","resource":"account/admin","outcome":"allowed","after":{"account":"admin","project":"default","roles":["admin"]},"comment":"first start"}','0000000000000000000000000000000000000000000000000000000000000000','cbbf3f952beb765d4c5ccde43bdd6b5aa7bc6d79c127efe493f3f3e1756408e5','4bbef17586b69a65bbb3fdab7bcf21f549eb243db3274ff6a75e3b1ca554d818539d8e854e2c2a32f97c7ba116f32f46523e79f427ae011c005b59293ea4010f');
INSERT INTO audit_log VALUES(2,1796528345077,'flag:create','proj/default:flag/checkout','allowed','{"at_ms":1796528345077,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"flag:create","resource":"proj/default:flag/checkout","outcome":"allowed","after":{"archived":false,"client_visible":true,"key":"checkout","kind":"boolean","off_variation":"off","salt":"f9ba7faf","tags":[],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]},"request_id":"375f08db1ab43f1c"}','cbbf3f952beb765d4c5ccde43bdd6b5aa7bc6d79c127efe493f3f3e1756408e5','9e6461a3215a51298cc2ef4478361a5aef06c79dfc940c92bc993f8f7e37e8a2','3fef2f00ab7de448c973edaf24213f59a60d15f8d74b96eaddbdec81d14ff58da908de12dfc39160bfc7bdb74d0a27ecbd25559b4385144a81102a258e120b0d');
INSERT INTO audit_log VALUES(3,1796528345104,'flag:create','proj/default:flag/banner','allowed','{"at_ms":1796528345104,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"flag:create","resource":"proj/default:flag/banner","outcome":"allowed","after":{"archived":false,"client_visible":false,"key":"banner","kind":"string","off_variation":"plain","salt":"0da7794f","tags":[],"temporary":false,"variations":[{"key":"plain","value":"hello"},{"key":"german","value":"hallo"}]},"request_id":"9fac28b753925f5f"}','9e6461a3215a51298cc2ef4478361a5aef06c79dfc940c92bc993f8f7e37e8a2','f03b02d7901d664bd9a339269bf74cf2475b83a81caec6f777912151591682a3','9494f86c524f4d54c66919514884fd091b68e355c548e9c605a4f72f22a83f1160a539d97f43bc6f19bad766867b80b0628d85229bdd1ff01da18b11a0031408');
INSERT INTO audit_log VALUES(4,1796528345126,'flag:create','proj/default:flag/limit','allowed','{"at_ms":1796528345126,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"flag:create","resource":"proj/default:flag/limit","outcome":"allowed","after":{"archived":false,"client_visible":false,"key":"limit","kind":"number","off_variation":"low","salt":"234373c8","tags":[],"temporary":false,"variations":[{"key":"low","value":10},{"key":"high","value":20.5}]},"request_id":"6c64d65c348c0061"}','f03b02d7901d664bd9a339269bf74cf2475b83a81caec6f777912151591682a3','33bfa2ef2feb2d0231ce14e21d23f7ddc7a56b0b4ee58a355844fa0178c67ae6','4fa91f23fa6aaac80f2622168220514bf541be9fda96b2e824ee021c15bc11aa65b64a4bf939f970bd3c81e33a108d9432b6df0f1f58713f82c0a43da5df9706');
INSERT INTO audit_log VALUES(5,1796528345138,'flag:create','proj/default:flag/theme','allowed','{"at_ms":1796528345138,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"flag:create","resource":"proj/default:flag/theme","outcome":"allowed","after":{"archived":false,"client_visible":false,"key":"theme","kind":"json","off_variation":"light","salt":"995cee04","tags":[],"temporary":false,"variations":[{"key":"dark","value":{"bg":"black"}},{"key":"light","value":{"bg":"white"}}]},"request_id":"ebd7999328991149"}','33bfa2ef2feb2d0231ce14e21d23f7ddc7a56b0b4ee58a355844fa0178c67ae6','46d73987a92ba7559090048d52653c727639dcc4c49e22e2ae14257293580ac0','326e5e46981b3115b0140725ff9625ffad41fc80e4c1ebcc6e4abdaae2288529f572aa0b88cf5321c49ce617491281c2612da7507b107cda47b9656089b7270b');
INSERT INTO audit_log VALUES(6,1796528345146,'flag:update','proj/default:env/production:flag/banner','allowed','{"at_ms":1796528345146,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"flag:update","resource":"proj/default:env/production:flag/banner","outcome":"allowed","before":{"fallthrough":{"variation":0},"off_variation":0,"on":false},"after":{"fallthrough":{"variation":0},"off_variation":0,"on":true,"rules":[{"condition":{"attribute":"country","kind":"user","op":"in","values":["DE"]},"id":"de","serve":{"variation":1}}]},"request_id":"3df2a31607e01fce"}','46d73987a92ba7559090048d52653c727639dcc4c49e22e2ae14257293580ac0','2d8dc83c99e0187c0d2f7274a96521aec8908e87d336b3ca372c3d0bbe8181dd','cd5bdb0afbdcddbdb882e8769a8e75e9bb6ce867d168c32759caa284f50a4d92951f9623297267c62db31cf292b7c28a47087b12193925edb0a924dbb59afb03');
INSERT INTO audit_log VALUES(7,1796528345155,'flag:update','proj/default:env/production:flag/checkout','allowed','{"at_ms":1796528345155,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"flag:update","resource":"proj/default:env/production:flag/checkout","outcome":"allowed","before":{"fallthrough":{"variation":0},"off_variation":1,"on":false},"after":{"fallthrough":{"variation":0},"off_variation":1,"on":true},"request_id":"8dba4319fc9f2318"}','2d8dc83c99e0187c0d2f7274a96521aec8908e87d336b3ca372c3d0bbe8181dd','8562e1736f01c0fdcc04348ba9a8e15a6be57bb799ace92dc1f2bed462416a42','92b83a3a739e84bafc63aba8c1d4da6dea14719fe56625b15169eccdbdb2ccce60fd05c2fa21932bc4841084cd6702defa895ae5eb1b6d2e4c61c586d00e9e0c');
INSERT INTO audit_log VALUES(8,1796528345163,'flag:update','proj/default:env/production:flag/limit','allowed','{"at_ms":1796528345163,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"flag:update","resource":"proj/default:env/production:flag/limit","outcome":"allowed","before":{"fallthrough":{"variation":0},"off_variation":0,"on":false},"after":{"fallthrough":{"rollout":{"context_kind":"user","variations":[{"variation":0,"weight":50000},{"variation":1,"weight":50000}]}},"off_variation":0,"on":true},"request_id":"fef090427ad4cb68"}','8562e1736f01c0fdcc04348ba9a8e15a6be57bb799ace92dc1f2bed462416a42','053e2f2921c29a050b2346d1e016d742a7897d9536d40b1d0ec5ca791a710b4b','4ce8690f5e776c4980971a62cd18efdd92ee1f54c70d78421b4d37fc776b89de52f74a14001f727014400789c27b3a4abefa2b692f7fe07d52d40768039f7304');
INSERT INTO audit_log VALUES(9,1796528345172,'flag:update','proj/default:env/production:flag/theme','allowed','{"at_ms":1796528345172,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"flag:update","resource":"proj/default:env/production:flag/theme","outcome":"allowed","before":{"fallthrough":{"variation":0},"off_variation":1,"on":false},"after":{"fallthrough":{"variation":0},"off_variation":1,"on":false},"request_id":"5e0dca26184f80bd"}','053e2f2921c29a050b2346d1e016d742a7897d9536d40b1d0ec5ca791a710b4b','d7b7e93ef318f0f44a69be8ba8798e2d7b5ff5317a5c20da672aff464d8d87c0','2317f54a50ffba931366fc4b9489330ec5bb1f1069b10d9a5d8f6ee194557a8d583b72178bd1933f59ea068e10ed4ed7900f33577fee43009eb8414b7cb49709');
INSERT INTO audit_log VALUES(10,1796528345178,'segment:create','proj/default:env/production:segment/beta','allowed','{"at_ms":1796528345178,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"segment:create","resource":"proj/default:env/production:segment/beta","outcome":"allowed","after":{"included":[{"kind":"user","values":["alice","user-7"]}],"key":"beta","salt":"034e8436","version":0},"comment":"beta testers","request_id":"a3d96d3f73278f95"}','d7b7e93ef318f0f44a69be8ba8798e2d7b5ff5317a5c20da672aff464d8d87c0','c74a322de69bf2c2cfdc8df2d6b0bc5d6854c0f355251dc97fa5588d10996343','8020985e2eb0fbd4c5834e1670e5ebee95e1d9516df35fde04a8924b7bbbde7b7d79db2e472d64fa89c1e08f63faf405d4e5d11db936be0c098b1c80d93c8000');
INSERT INTO audit_log VALUES(11,1796528345186,'flag:create','proj/default:flag/beta-search','allowed','{"at_ms":1796528345186,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"flag:create","resource":"proj/default:flag/beta-search","outcome":"allowed","after":{"archived":false,"client_visible":false,"description":"new search","key":"beta-search","kind":"boolean","off_variation":"off","salt":"dda18f36","tags":["search","beta"],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]},"comment":"for the beta","request_id":"460c26723e9c0922"}','c74a322de69bf2c2cfdc8df2d6b0bc5d6854c0f355251dc97fa5588d10996343','53fa8e31ebdcafb802cfd935963cf7777a825e2bce45d7c646ea2aff01a5238a','34b09bd884d51eb61c43e3f8fab4d6df1ca6a6eaa2d8300cc20fa8ee29dc0995dffb9c0ff684003f8c394410bdba8db088c47d3a45a495da3714f5fa6c94ec09');
INSERT INTO audit_log VALUES(12,1796528345194,'flag:update','proj/default:env/production:flag/beta-search','allowed','{"at_ms":1796528345194,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"flag:update","resource":"proj/default:env/production:flag/beta-search","outcome":"allowed","before":{"fallthrough":{"variation":0},"off_variation":1,"on":false},"after":{"fallthrough":{"variation":1},"off_variation":1,"on":true,"rules":[{"condition":{"attribute":"","kind":"user","op":"segment_match","values":["beta"]},"id":"beta","serve":{"variation":0}}]},"request_id":"f4035d5e80f55cd0"}','53fa8e31ebdcafb802cfd935963cf7777a825e2bce45d7c646ea2aff01a5238a','633ff1ff3ca57c41651f5c386e1c3d602a65af2174fdbeedc5cb25281cca31bc','a1564b9afe43263368da8fa1f2edc1a1ef3849506aeaa35648175a0343c21e7225f1287e79a3f354473f93b9e6b507d0644e84eb02c36d35c975fd68e047150e');
INSERT INTO audit_log VALUES(13,1796528345202,'flag:create','proj/default:flag/new-checkout','allowed','{"at_ms":1796528345202,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"flag:create","resource":"proj/default:flag/new-checkout","outcome":"allowed","after":{"archived":false,"client_visible":false,"key":"new-checkout","kind":"boolean","off_variation":"off","salt":"120263ba","tags":[],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]},"request_id":"0c6d000a90b2a30d"}','633ff1ff3ca57c41651f5c386e1c3d602a65af2174fdbeedc5cb25281cca31bc','66d374d6b82b1b273ab2a1dc0c4b47dbfc5936eb1bd26bd8a2e714db1b1fd483','c94cbb923d3c98e3cfe3dce1c04f1486da587e3c845f9ea2f17b45c52a3d4bb0197a3c5b476d46a8d4ce1011cb4bfa9ca7eb554b644292ea0c7649021feead05');
INSERT INTO audit_log VALUES(14,1796528345209,'flag:update','proj/default:env/production:flag/new-checkout','allowed','{"at_ms":1796528345209,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"flag:update","resource":"proj/default:env/production:flag/new-checkout","outcome":"allowed","before":{"fallthrough":{"variation":0},"off_variation":1,"on":false},"after":{"fallthrough":{"variation":1},"off_variation":1,"on":true},"request_id":"c1aac9855fc5ebb2"}','66d374d6b82b1b273ab2a1dc0c4b47dbfc5936eb1bd26bd8a2e714db1b1fd483','8148379574c3713c54805319ffc5f8c2d0ca4332e2170cf972d05e5e4567300f','4733f7e8bd9e8e37a23d9c94c6d2e8feeb5df6e1e9838a74bbe816c247f3fa2ec5164e5ee1a53870c00c05ac6d0f63024a1b2d7a57e39e7f0df797282968f50d');
INSERT INTO audit_log VALUES(15,1796528345216,'release:create','proj/default:env/production:release/344edceb','allowed','{"at_ms":1796528345216,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"release:create","resource":"proj/default:env/production:release/344edceb","outcome":"allowed","after":{"hold":null,"serve":{"release":{"context_kind":"user","previous":{"variation":1},"seed":"release-344edceb","stage":"344edceb.0","variation":0,"weight":20000}},"stage":0,"stage_name":"20 %","state":"running"},"comment":"started at stage 0 (20 %)","request_id":"a921813638de799b"}','8148379574c3713c54805319ffc5f8c2d0ca4332e2170cf972d05e5e4567300f','566289b60d4396673ef6276fb57bcd6f5258b0778a3e139a03aa7e1d113378bf','6b2ae9d96baffe1d885a3623d4d4249f2677381bac33c405da41d5a61fc74509032bc21ebe2264a8a48bb448702acd58e47500d2a4ff0d49acdd89526b7a3e0c');
INSERT INTO audit_log VALUES(16,1796528345226,'release:pause','proj/default:env/production:release/344edceb','allowed','{"at_ms":1796528345226,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"release:pause","resource":"proj/default:env/production:release/344edceb","outcome":"allowed","before":{"hold":null,"serve":{"release":{"context_kind":"user","previous":{"variation":1},"seed":"release-344edceb","stage":"344edceb.0","variation":0,"weight":20000}},"stage":0,"stage_name":"20 %","state":"running"},"after":{"hold":{"reason":"paused by token:4c32d72d46a452c7","since_ms":1796528345226},"serve":{"release":{"context_kind":"user","previous":{"variation":1},"seed":"release-344edceb","stage":"344edceb.0","variation":0,"weight":20000}},"stage":0,"stage_name":"20 %","state":"holding"},"comment":"waiting for the on-call","request_id":"1c84479db3f25c53"}','566289b60d4396673ef6276fb57bcd6f5258b0778a3e139a03aa7e1d113378bf','3b5448c6c8d57922babac7b534a2fdd2e475b25e5d5b6274ff8f24c10ee61b51','00509f296b5534818e3f7263dd7b959b2508fa6a46f826a1f03decb5283293ac28f53dc03b3b649619580fdc288b87289b3c1dcad0323a4ba0372b5bd4bdca08');
INSERT INTO audit_log VALUES(17,1796528345231,'project:create','proj/shop','allowed','{"at_ms":1796528345231,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"project:create","resource":"proj/shop","outcome":"allowed","after":{"description":"the web shop","key":"shop","name":"Shop"},"request_id":"5fd7443de0c2db3e"}','3b5448c6c8d57922babac7b534a2fdd2e475b25e5d5b6274ff8f24c10ee61b51','daf91c40d5605a8967ba1c7f5082ea02fd05794b778d1854c342d912f6bac307','ae1a4990918e4b95eb1d3b6d84c81c336680d3a44eb658919dce6a19bcb4c63d4bb0e4c5196f7ba8f28f3c558168018c849ca65a6c975c3d708a0ec543a55509');
INSERT INTO audit_log VALUES(18,1796528345235,'flag:create','proj/shop:flag/old-banner','allowed','{"at_ms":1796528345235,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"flag:create","resource":"proj/shop:flag/old-banner","outcome":"allowed","after":{"archived":true,"client_visible":false,"key":"old-banner","kind":"boolean","off_variation":"off","salt":"65690720","tags":[],"temporary":false,"variations":[{"key":"on","value":true},{"key":"off","value":false}]},"request_id":"14444d9c51b85bf7"}','daf91c40d5605a8967ba1c7f5082ea02fd05794b778d1854c342d912f6bac307','523d760a4467da8fc7b1057d0e562e07d48976f4b89a50a95f8da2e4b832e0ce','f1d3d6ffb770a5465d0903ee682f107c5400b9955e18a314fdb37d71b9035cb7d1bd1752220cdf2ad340308f8ad28379a78ea1807a8de5885a105292ccd91103');
INSERT INTO audit_log VALUES(19,1796528345244,'role:create','role/flag-operator','allowed','{"at_ms":1796528345244,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"role:create","resource":"role/flag-operator","outcome":"allowed","after":{"description":"","name":"flag-operator","statements":[{"actions":["flag:read","flag:toggle"],"effect":"allow","resources":["proj/default:*"]}]},"request_id":"158a5cce494052c6"}','523d760a4467da8fc7b1057d0e562e07d48976f4b89a50a95f8da2e4b832e0ce','d930b1f23ef2c6843ebf48f477990972b6958dc74135907eb2489dcba59dbdab','d6b84a894fdafe0c09eeb05c33453df88fb36d7cecce8dcb7bf6dbbc0bc03489f5c562b9d5cd181df081036f37f84ce095d895d909bc6146444dbf93bc94fd09');
INSERT INTO audit_log VALUES(20,1796528346514,'account:create','account/dana','allowed','{"at_ms":1796528346514,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"account:create","resource":"account/dana","outcome":"allowed","after":{"disabled":false,"has_password":true,"name":"dana","roles":["flag-operator"],"version":0},"request_id":"19fab3d99a84b24f"}','d930b1f23ef2c6843ebf48f477990972b6958dc74135907eb2489dcba59dbdab','5321abd9a860ba9f9b7e47ce052531bdaa8de735425166d657427582fb6b061f','6374bf95abb6feff472a0f67376ad4a4ac7c432f1d3eed8657684382bd645a5cf8470c04cd44fa3bc90786d228342410455d4fd392d9a0cd9ea368e3a960240a');
INSERT INTO audit_log VALUES(21,1796528346522,'token:create','account/dana:token/c11194d0b8094fa4','allowed','{"at_ms":1796528346522,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"token:create","resource":"account/dana:token/c11194d0b8094fa4","outcome":"allowed","after":{"account":"dana","created_at_ms":1796528346522,"expires_at_ms":1799120346522,"id":"c11194d0b8094fa4","name":"dana-ci"},"request_id":"14e5ec2c5f9375f2"}','5321abd9a860ba9f9b7e47ce052531bdaa8de735425166d657427582fb6b061f','b65dbc7bc9bdb087007c6d26f6af8e5fc1f70477dcf47d0ba94857b107b4ca39','56a2a06a6bfdf1a434dc3ad5064a1e57067a13a419d741d6a0430b388c39b41722f19b69efe0e314b13023e1c665a4f304e3ee281eeccc4bc7ca4d9d3185c80b');
INSERT INTO audit_log VALUES(22,1796528346526,'token:create','account/admin:token/633d758588a927fc','allowed','{"at_ms":1796528346526,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"token:create","resource":"account/admin:token/633d758588a927fc","outcome":"allowed","after":{"account":"admin","created_at_ms":1796528346526,"expires_at_ms":1804304346526,"id":"633d758588a927fc","name":"deploy-bot"},"comment":"no expiry given","request_id":"d2447ca11b845940"}','b65dbc7bc9bdb087007c6d26f6af8e5fc1f70477dcf47d0ba94857b107b4ca39','8ab5b39f9ed1a008e949c0c9d94f2cc28d84491e953ed9b734f6fdedd243827a','8482ffe14bcbf01b6035543e18035d3592d185555ee2e6a5c133c54d5de916d73e97739547813ab51dfa121b619dffafbe51da7e4bde8602207cc8bd616ac209');
INSERT INTO audit_log VALUES(23,1796528346531,'sdk-key:create','proj/default:env/production:sdk-key/82236906eda35bff','allowed','{"at_ms":1796528346531,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"sdk-key:create","resource":"proj/default:env/production:sdk-key/82236906eda35bff","outcome":"allowed","after":{"created_at_ms":1796528346531,"environment":"production","id":"82236906eda35bff","kind":"server","name":"server key","project":"default"},"request_id":"2be8001a3a4695b5"}','8ab5b39f9ed1a008e949c0c9d94f2cc28d84491e953ed9b734f6fdedd243827a','5dfaa4ce2e24e74439aaa5ee621419b6df8a85dfd23aab541c3a97f2d6a7a439','d3d1ff1b5b980eec77ae913fc490217d88e08849ff1a56e024bb70c40b878c78e17505bd6cb621df00c7f1bb2118e79affd26eb4ab9826c341ffc0922e75db04');
INSERT INTO audit_log VALUES(24,1796528346535,'sdk-key:create','proj/default:env/production:sdk-key/154b67fbe42eda52','allowed','{"at_ms":1796528346535,"actor":{"account":"admin","id":"4c32d72d46a452c7","kind":"token"},"action":"sdk-key:create","resource":"proj/default:env/production:sdk-key/154b67fbe42eda52","outcome":"allowed","after":{"created_at_ms":1796528346535,"environment":"production","id":"154b67fbe42eda52","kind":"client","name":"client key","project":"default"},"request_id":"8678256ec7e1e81b"}','5dfaa4ce2e24e74439aaa5ee621419b6df8a85dfd23aab541c3a97f2d6a7a439','c1f3ced33456c1f41e269c4471b523ec719e951fa30d95c425cfce0e393fc846','6cb54b4a989aabe7810172136202e56f190cbe895a216673952b007eb216f59cb86bd4dc142087d5af26435f2de7d4fc62e3638deaa5b2e1dc765ee10cab8a09');
CREATE TABLE chain_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
, signed_from BIGINT NOT NULL DEFAULT 1);
INSERT INTO chain_head VALUES(1,24,'c1f3ced33456c1f41e269c4471b523ec719e951fa30d95c425cfce0e393fc846',1);
CREATE TABLE evaluation_counts (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    flag TEXT NOT NULL,
    version BIGINT NOT NULL,
    variation TEXT NOT NULL,
    reason TEXT NOT NULL,
    minute BIGINT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (project, env, flag, version, variation, reason, minute)
);
INSERT INTO evaluation_counts VALUES('default','production','limit',2,'high','FALLTHROUGH',1796528340000,23);
INSERT INTO evaluation_counts VALUES('default','production','limit',2,'low','FALLTHROUGH',1796528340000,17);
INSERT INTO evaluation_counts VALUES('default','production','checkout',2,'on','FALLTHROUGH',1796528340000,40);
CREATE TABLE exposures (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    flag TEXT NOT NULL,
    context_kind TEXT NOT NULL,
    context_key TEXT NOT NULL,
    variation TEXT NOT NULL,
    version BIGINT NOT NULL,
    reason TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (project, env, flag, context_kind, context_key, variation)
);
INSERT INTO exposures VALUES('default','production','limit','user','user-0','low',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-0','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-1','low',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-1','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-2','high',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-2','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-3','low',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-3','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-4','high',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-4','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-5','high',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-5','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-6','low',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-6','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-7','high',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-7','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-8','high',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-8','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-9','high',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-9','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-10','low',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-10','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-11','high',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-11','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-12','high',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-12','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-13','high',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-13','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-14','high',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-14','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-15','high',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-15','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-16','low',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-16','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-17','high',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-17','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-18','low',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-18','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-19','high',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','checkout','user','user-19','on',2,'FALLTHROUGH',1796528346544,1796528346544);
INSERT INTO exposures VALUES('default','production','limit','user','user-20','high',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-20','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-21','high',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-21','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-22','high',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-22','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-23','low',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-23','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-24','low',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-24','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-25','low',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-25','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-26','low',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-26','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-27','low',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-27','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-28','high',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-28','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-29','high',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-29','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-30','high',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-30','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-31','low',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-31','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-32','high',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-32','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-33','low',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-33','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-34','high',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-34','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-35','high',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-35','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-36','low',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-36','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-37','low',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-37','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-38','high',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-38','on',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','limit','user','user-39','low',2,'FALLTHROUGH',1796528346545,1796528346545);
INSERT INTO exposures VALUES('default','production','checkout','user','user-39','on',2,'FALLTHROUGH',1796528346545,1796528346545);
CREATE TABLE metric_aggregates (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    metric TEXT NOT NULL,
    flag TEXT NOT NULL,
    variation TEXT NOT NULL,
    minute BIGINT NOT NULL,
    count BIGINT NOT NULL,
    sum DOUBLE PRECISION NOT NULL,
    sum_sq DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project, env, metric, flag, variation, minute)
);
INSERT INTO metric_aggregates VALUES('default','production','error','checkout','on',1796528340000,10,10.0,10.0);
INSERT INTO metric_aggregates VALUES('default','production','error','limit','high',1796528340000,6,6.0,6.0);
INSERT INTO metric_aggregates VALUES('default','production','error','limit','low',1796528340000,4,4.0,4.0);
INSERT INTO metric_aggregates VALUES('default','production','latency_ms','checkout','on',1796528340000,40,155.0,755.0);
INSERT INTO metric_aggregates VALUES('default','production','latency_ms','limit','high',1796528340000,23,84.0,410.0);
INSERT INTO metric_aggregates VALUES('default','production','latency_ms','limit','low',1796528340000,17,71.0,345.0);
CREATE TABLE release_counts (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    flag TEXT NOT NULL,
    stage TEXT NOT NULL,
    cohort TEXT NOT NULL,
    evaluations BIGINT NOT NULL,
    PRIMARY KEY (project, env, flag, stage, cohort)
);
CREATE TABLE release_exposures (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    context_kind TEXT NOT NULL,
    context_key TEXT NOT NULL,
    flag TEXT NOT NULL,
    stage TEXT NOT NULL,
    cohort TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    PRIMARY KEY (project, env, context_kind, context_key, flag, stage, cohort)
);
CREATE TABLE release_metrics (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    flag TEXT NOT NULL,
    stage TEXT NOT NULL,
    cohort TEXT NOT NULL,
    metric TEXT NOT NULL,
    count BIGINT NOT NULL,
    sum DOUBLE PRECISION NOT NULL,
    sum_sq DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project, env, flag, stage, cohort, metric)
);
CREATE TABLE event_batches (
    project TEXT NOT NULL,
    env TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    seen_at BIGINT NOT NULL,
    attributed BIGINT NOT NULL,
    PRIMARY KEY (project, env, batch_id)
);
INSERT INTO event_batches VALUES('default','production','cb817558e1fb2c27464d5a492c578c4f',1796528346549,50);
CREATE INDEX documents_by_key ON documents (kind, key);
CREATE INDEX exposures_by_context ON exposures (project, env, context_kind, context_key);
CREATE INDEX exposures_by_last_seen ON exposures (last_seen);
CREATE INDEX release_exposures_by_stage ON release_exposures (project, env, flag, stage);
CREATE INDEX release_exposures_by_first_seen ON release_exposures (first_seen);
CREATE INDEX event_batches_by_seen_at ON event_batches (seen_at);
COMMIT;
