import json, sys, numpy as np
from PIL import Image, ImageDraw
sys.path.insert(0,str(__import__('pathlib').Path(__file__).resolve().parent)); from sclera import sess, EYES, cast, run_mesh
def measure(img, eye_mid, fw, q=75):
    m=run_mesh(sess, img.astype(np.uint8), (eye_mid[0], eye_mid[1]+0.45*fw), 1.7*fw)
    res=[]
    for ids in EYES:
        mk=Image.new('L',(img.shape[1],img.shape[0]),0); ImageDraw.Draw(mk).polygon([tuple(m[i,:2]) for i in ids],fill=1)
        px=img[np.asarray(mk)>0]
        y=px@[0.299,0.587,0.114]
        sel=px[y>=np.percentile(y,q)].mean(0)
        res.append((y.max(), np.log2(sel[0]/sel[1]), np.log2(sel[2]/sel[1])))
    return max(res)
exp=[json.loads(l) for l in open('/work/shared/fixtures/expected.jsonl')]
base=[];byk={}
for e in exp:
    k=e["params"].get("kind")
    if k in ("bomb","truncated","zero_bytes","text_named_jpg","png","png_as_jpg","webp_as_jpg","cmyk"): continue
    img=np.asarray(Image.open('/work/shared/fixtures/'+e['file']).convert('RGB')).astype(np.float64)
    if img.shape!=(441,358,3) or 'eye_mid' not in e['params']: continue
    p=e['params']
    try: r=measure(img,p['eye_mid'],p['face_width'])
    except Exception as ex: continue
    byk.setdefault(k,[]).append((e['file'][:30],round(r[1],2),round(r[2],2)))
    if k=='compliant':
        for kind in ('warm','cool','green'):
            for s in (0.05,0.1,0.15,0.2):
                q=measure(cast(img,kind,s),p['eye_mid'],p['face_width'])
                byk.setdefault(f'{kind}{s}',[]).append((round(q[1],2),round(q[2],2)))
for k,v in byk.items():
    if len(v[0])==3:
        rs=[x[1] for x in v]; bs=[x[2] for x in v]
    else:
        rs=[x[0] for x in v]; bs=[x[1] for x in v]
    print(f"{k:22s} n{len(v):3d} R/G [{min(rs):5.2f},{max(rs):5.2f}] B/G [{min(bs):5.2f},{max(bs):5.2f}]")
