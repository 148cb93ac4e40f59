import json, sys, numpy as np
from PIL import Image
sys.path.insert(0,str(__import__('pathlib').Path(__file__).resolve().parent)); from skin import skin, mesh_for, cast
exp=[json.loads(l) for l in open('/work/shared/fixtures/expected.jsonl')]
byk={}
for e in exp:
    k=e['params'].get('kind')
    if k in ("bomb","truncated","zero_bytes","text_named_jpg","png","png_as_jpg","webp_as_jpg","cmyk"): continue
    p=e['params']
    if 'eye_mid' not in p or 'face_width' not in p: continue
    img=np.asarray(Image.open('/work/shared/fixtures/'+e['file']).convert('RGB')).astype(np.float64)
    m=mesh_for(img,(p['eye_mid'][0],p['eye_mid'][1]+0.45*p['face_width']),1.7*p['face_width'])
    h,c,L=skin(img,m)
    byk.setdefault(k,[]).append((h,c,L,e['file'][:34]))
    if k=='compliant':
        for kind in ('warm',):
            for s in (0.1,0.2,0.3,0.4):
                byk.setdefault(f'{kind}{s}',[]).append(skin(cast(img,kind,s),m)+('',))
for k,v in byk.items():
    hs=[x[0] for x in v]; cs=[x[1] for x in v]
    print(f"{k:24s} n{len(v):3d} hue [{min(hs):5.0f},{max(hs):5.0f}] chroma [{min(cs):4.0f},{max(cs):4.0f}]  worst-chroma {max(v,key=lambda x:x[1])[3]}")
