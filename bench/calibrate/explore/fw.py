import sys, numpy as np
from PIL import Image
from pathlib import Path
sys.path.insert(0,str(__import__('pathlib').Path(__file__).resolve().parent)); from sclera import sess, run_mesh, C
def tem(p):
    t=C.read_tem(p); return np.asarray(t[0] if isinstance(t,tuple) else t)
def mesh_flip(img, centre, side):
    m=run_mesh(sess,img,centre,side)
    f=img[:,::-1].copy(); W=img.shape[1]
    mf=run_mesh(sess,f,(W-1-centre[0],centre[1]),side)
    mf[:,0]=W-1-mf[:,0]
    return m,mf
# mirror pairs: 234<->454
errs={'plain':[], 'flip':[], 'jit':[]}
for src in sorted(Path('/work/shared/calibration/london').glob('*_03.jpg')):
    pts=tem(src.with_suffix('.tem'))
    wt=np.linalg.norm(pts[110]-pts[113]); k=207.0/wt
    im=Image.open(src).convert('RGB'); im=im.resize((round(im.width*k),round(im.height*k)),Image.LANCZOS)
    img=np.asarray(im); P=pts*k
    eye=(P[0]+P[1])/2; chin=P[129]; reach=np.linalg.norm(chin-eye)
    c=(eye+chin)/2; side=2.3*reach
    m,mf=mesh_flip(img,c,side)
    w=lambda mm,a,b: np.linalg.norm(mm[a,:2]-mm[b,:2])
    e0=w(m,234,454)-207; ef=w(mf,454,234)-207
    errs['plain'].append(e0); errs['flip'].append((e0+ef)/2)
    js=[]
    for dx,dy,ds in [(0,0,1),(4,0,1),(-4,0,1),(0,4,1),(0,-4,1),(0,0,1.08),(0,0,0.93)]:
        mm=run_mesh(sess,img,(c[0]+dx,c[1]+dy),side*ds); js.append(w(mm,234,454)-207)
    errs['jit'].append(np.mean(js))
    print(src.name[:3], f"{e0:+.1f} {ef:+.1f} jit {np.mean(js):+.1f} sd {np.std(js):.1f}", flush=True)
for k,v in errs.items():
    v=np.array(v); print(k, f"mean {v.mean():+.2f} sd {v.std():.2f} within3(of mean) {(abs(v-v.mean())<=3).sum()} within3 {(abs(v)<=3).sum()}")
